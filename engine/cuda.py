"""``engine.cuda``: torch.cuda's two questions, answered through CuPy (the "cuda" device)."""


def is_available():
    """True when CuPy is installed and sees a GPU (``pip install -e ".[gpu]"``)."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver, no device: all mean "no"
        return False


def synchronize():
    """Wait for the GPU to finish queued work (time a step only after this)."""
    import cupy

    cupy.cuda.Device().synchronize()
