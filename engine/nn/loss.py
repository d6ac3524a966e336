"""Loss modules: they hold the options (reduction, ignore_index, ...) and call functional."""

from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error. Input and target must have the same shape (torch only warns and
    broadcasts; see ``functional.mse_loss`` for why the engine refuses)."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of raw logits (N, C): log_softmax and NLL in one fused op.

    Targets are either class indices, int64 of shape (N,), or class probabilities, float of
    shape (N, C), as torch ≥ 1.10 accepts. The engine checks what torch does not:

    - targets of shape (N, 1) → an error with the fix (``target.squeeze(1)``);
    - float targets that are not probabilities (negative entries, rows not summing to 1) →
      an error. This is stricter than torch, which treats any floats as soft labels, so a
      target built with ``randn`` (or logits passed as targets) trains silently on garbage;
    - a class index outside 0..C-1 → an error naming it and the number of classes;
    - an input that is already log-probabilities → a ``UserWarning``: the loss applies
      log_softmax itself. (The value does not change, log_softmax being idempotent; the
      warning is about intent: use ``NLLLoss`` after a ``LogSoftmax``.)
    """

    def __init__(self, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        super().__init__(reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction,
                               ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (the output of ``LogSoftmax(dim=1)``)."""

    def __init__(self, reduction="mean", ignore_index=-100):
        super().__init__(reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, reduction=self.reduction, ignore_index=self.ignore_index)
