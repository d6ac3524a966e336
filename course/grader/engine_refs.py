"""The course engine's own answer to each task, in the probes' format.

The check cells show "yours vs the engine" beside "yours vs PyTorch"; the tests hold the engine
to the grader's references. Grading never uses these: the grader's references (``specs/``) do
not depend on the engine a notebook might have changed.
"""

from __future__ import annotations

import numpy as np

from .scoring import array
from .spec import enc

ENGINE_REFS = {}


def ref(task_id):
    def register(fn):
        ENGINE_REFS[task_id] = fn
        return fn

    return register


def _local(fn, *args):
    from engine import Value

    out = fn(*[Value(a) for a in args])
    return [out.data, list(out._local_grads)]


ref("ch1.mul")(lambda c: _local(lambda a, b: a * b, c["a"], c["b"]))
ref("ch1.tanh")(lambda c: _local(lambda x: x.tanh(), c["x"]))
ref("ch1.pow")(lambda c: _local(lambda x: x ** c["n"], c["x"]))


@ref("ch2.chain_rule")
def _neuron(case):
    from engine import Value

    x1, x2, w1, w2, b = leaves = [Value(v) for v in case["inputs"]]
    (x1 * w1 + x2 * w2 + b).tanh().backward()
    return [v.grad for v in leaves]


@ref("ch2.backward")
def _backward(case):
    from engine import Value

    nodes = [Value(x) for x in case["leaves"]]
    for inputs, local in case["ops"]:  # a node with the given local derivatives, as ops make
        nodes.append(Value(0.0, tuple(nodes[i] for i in inputs), _local_grads=local))
    nodes[-1].backward()
    return [n.grad for n in nodes]


@ref("ch3.newton_sqrt")
def _newton(case):
    from engine import Value

    a = x = Value(case["a"])
    steps = 0
    while abs(x.data * x.data - a.data) > 1e-12 * a.data:
        x, steps = 0.5 * (x + a / x), steps + 1
    x.backward()
    return {"x": x.data, "steps": steps, "grad": a.grad}


def _rnn(case, k=None):
    from engine import Value

    w, u, h0 = (Value(case[n]) for n in ("w", "u", "h0"))
    h = h0
    for t, x in enumerate(case["xs"]):
        if k and t > 0 and t % k == 0:
            h = h.detach()
        h = (w * h + u * x).tanh()
    h.backward()
    return [h.data, w.grad, u.grad, h0.grad]


ref("ch3.rnn")(_rnn)
ref("ch3.truncated")(lambda c: _rnn(c, c["k"]))


@ref("ch3.round_ste")
def _ste(case):
    from engine import Value

    x = Value(case["x"])
    y = x + (Value(round(x.data)) - x).detach()
    (y * case["c"]).backward()
    return [y.data, x.grad]


@ref("ch4.unbroadcast")
def _unbroadcast(case):
    from engine.ops.common import unbroadcast

    return enc(unbroadcast(array(case["grad"]), tuple(case["shape"])))


def _through(fn, case, names):
    from engine import Tensor

    inputs = [None if case[n] is None else Tensor(array(case[n]), requires_grad=True)
              for n in names]
    out = fn(*inputs)
    out.backward(Tensor(array(case["grad"])))
    return {"out": enc(out.detach().numpy()),
            "grads": [None if t is None else enc(t.grad.numpy()) for t in inputs]}


@ref("ch4.sigmoid")
def _sigmoid(case):
    import engine

    return _through(engine.sigmoid, case, ["x"])


@ref("ch4.linear")
def _linear(case):
    from engine.nn.functional import linear

    return _through(linear, case, ["x", "weight", "bias"])


def _optimizer(case, name):
    import engine.optim
    from engine import Tensor

    params = [Tensor(array(p), requires_grad=True) for p in case["params"]]
    opt = getattr(engine.optim, name)(params, **case["options"])
    trajectory = []
    for grads in case["grads"]:
        for p, g in zip(params, grads):
            p.grad = Tensor(array(g))
        opt.step()
        trajectory.append([enc(p.detach().numpy()) for p in params])
    return {"trajectory": trajectory, "cleared": True, "graphs": 0}


ref("ch5.sgd")(lambda c: _optimizer(c, "SGD"))
ref("ch5.adam")(lambda c: _optimizer(c, "Adam"))


@ref("ch5.clip")
def _clip(case):
    from engine import Tensor
    from engine.nn.utils import clip_grad_norm_

    params = [Tensor(np.zeros(array(p).shape), requires_grad=True) for p in case["params"]]
    for p, g in zip(params, case["grads"]):
        p.grad = Tensor(array(g))
    total = clip_grad_norm_(params, case["max_norm"])
    return {"total": float(total), "grads": [enc(p.grad.numpy()) for p in params]}


# --- chapter 9: the engine's own passes and trace cache, on the task's tiny IR ----------------
def _ir_graph(case, constants, all_outputs):
    """The task's IR as an engine.trace Graph of 0-d float64 Values; and id(Value) → name."""
    from engine.ops.activation import ReLU
    from engine.ops.elementwise import Add, Mul, Neg, Sub
    from engine.trace.ir import Graph, Node, Value

    ops = {"add": Add, "sub": Sub, "mul": Mul, "neg": Neg, "relu": ReLU}
    f64 = np.dtype(np.float64)
    values = {k: Value("constant", (), f64, data=np.float64(v)) for k, v in constants.items()}
    nodes = []
    for out, op, args in case["nodes"]:
        for a in args:
            values.setdefault(a, Value("input", (), f64, a, data=0))
        value = values[out] = Value("node", (), f64)
        value.node = Node(ops[op], tuple(values[a] for a in args), {}, value)
        nodes.append(value.node)
    outputs = tuple(values[n[0]] for n in case["nodes"]) if all_outputs else \
        tuple(values[o] for o in case["outputs"])
    inputs = [v for v in values.values() if v.kind == "input"]
    return Graph(inputs, [], nodes, outputs), {id(v): k for k, v in values.items()}


@ref("ch9.dce")
def _dce(case):
    from engine.trace import passes

    graph, names = _ir_graph(case, {}, all_outputs=False)
    kept = {id(n) for n in passes.eliminate_dead_code(graph).nodes}
    return [i for i, n in enumerate(graph.nodes) if id(n) in kept]


@ref("ch9.fold")
def _fold(case):
    from engine.trace import passes

    graph, names = _ir_graph(case, case["constants"], all_outputs=True)
    folded = passes.fold_constants(graph)
    constants = dict(case["constants"])
    for (out, _, _), v in zip(case["nodes"], folded.outputs):
        if v.kind == "constant":
            names[id(v)] = out
            constants[out] = float(v.data)
    kept = {names[id(n.out)] for n in folded.nodes}
    return {"nodes": [i for i, n in enumerate(case["nodes"]) if n[0] in kept],
            "constants": constants}


@ref("ch9.guard")
def _guard(case):
    import engine
    from engine.trace import trace

    def total(*ts):
        out = ts[0].sum()
        for t in ts[1:]:
            out = out + t.sum()
        return out

    traced_fn, traced, results = None, [], []
    for call in case["calls"]:
        ts = [engine.tensor(np.full(s, v, dtype=d)) for s, d, v in call]
        misses = traced_fn.cache_info().misses if traced_fn else 0
        if traced_fn is None:
            traced_fn = trace(total, *ts)  # traces now: the first miss
            misses = 0
        value = float(traced_fn(*ts).item())
        if traced_fn.cache_info().misses > misses or not traced:
            traced.append([[list(s), np.dtype(d).itemsize * 8] for s, d, _ in call])
        keys = list(traced_fn._cache)  # the engine's guard keys, in the order they were traced
        results.append({"graph": keys.index(traced_fn._key(ts)), "value": value})
    info = traced_fn.cache_info()
    return {"results": results, "traced": traced, "hits": info.hits - 1, "misses": info.misses}


# --- chapter 8: the engine's recurrent cells (one Function per time step) --------------------
def _ch8_tensors(case, *keys, requires_grad=False):
    from engine import Tensor

    return [Tensor(array(case[k]), requires_grad=requires_grad) for k in keys]


@ref("ch8.rnn_cell")
def _rnn_cell(case):
    from engine.nn.rnn_ops import RNNCellFunction

    args = _ch8_tensors(case, "x", "h", "w_ih", "w_hh", "b_ih", "b_hh")
    out = RNNCellFunction.apply(*args)
    return enc(out.numpy())


@ref("ch8.bptt")
def _rnn_bptt(case):
    from engine import zeros
    from engine.nn.rnn_ops import RNNCellFunction

    xs, h0, w_ih, w_hh, b = _ch8_tensors(case, "xs", "h0", "w_ih", "w_hh", "b",
                                         requires_grad=True)
    no_bias = zeros(*b.shape, dtype=b.dtype)
    h = h0
    for t in range(xs.shape[0]):
        h = RNNCellFunction.apply(xs[t], h, w_ih, w_hh, b, no_bias)
    h.sum().backward()
    return [enc(h.detach().numpy())] + [enc(t.grad.numpy()) for t in (w_ih, w_hh, b, h0)]


@ref("ch8.lstm_cell")
def _lstm_cell(case):
    from engine.nn import LSTMCell

    x, h, c, w_ih, w_hh, b_ih, b_hh = _ch8_tensors(case, "x", "h", "c", "w_ih", "w_hh",
                                                    "b_ih", "b_hh")
    cell = LSTMCell(x.shape[1], h.shape[1], dtype=x.dtype)
    cell.load_state_dict({"weight_ih": w_ih.numpy(), "weight_hh": w_hh.numpy(),
                          "bias_ih": b_ih.numpy(), "bias_hh": b_hh.numpy()})
    h_new, c_new = cell(x, (h, c))
    return [enc(h_new.detach().numpy()), enc(c_new.detach().numpy())]


@ref("ch8.last_step")
def _last_outputs(case):
    from engine import Tensor
    from engine.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    output, lengths = Tensor(array(case["output"])), np.array(case["lengths"])
    packed = pack_padded_sequence(output, lengths, enforce_sorted=False)
    padded, _ = pad_packed_sequence(packed, total_length=output.shape[0])
    return enc(padded[Tensor(lengths - 1), Tensor(np.arange(len(lengths)))].numpy())


@ref("ch6.im2col")
def _im2col(case):
    from engine.nn.conv import im2col

    s, p = case["stride"], case["padding"]
    return enc(im2col(array(case["x"]), tuple(case["kernel"]), (s, s), (p, p)))


@ref("ch6.conv_backward")
def _conv_backward(case):
    from engine import Tensor
    from engine.nn.functional import conv2d

    x, w = (Tensor(array(case[k]), requires_grad=True) for k in ("x", "weight"))
    b = Tensor(np.zeros(array(case["weight"]).shape[0]), requires_grad=True)
    conv2d(x, w, b).backward(Tensor(array(case["grad"])))
    return {"dx": enc(x.grad.numpy()), "dw": enc(w.grad.numpy()), "db": enc(b.grad.numpy())}


@ref("ch6.maxpool")
def _maxpool(case):
    from engine.nn.functional import max_pool2d

    return _through(lambda x: max_pool2d(x, 2), case, ["x"])


@ref("ch7.confusion")
def _confusion(case):
    import engine

    one_hot = np.eye(case["num_classes"])
    truth = engine.tensor(one_hot[case["targets"]])  # (N, C): row n is the class of sample n
    guess = engine.tensor(one_hot[case["predictions"]])
    return enc((truth.transpose(0, 1) @ guess).numpy())  # [t, p]: samples with both


@ref("ch7.batches")
def _batches(case):
    from engine.data import DataLoader

    loader = DataLoader(list(range(case["n"])), batch_size=case["batch_size"], shuffle=True,
                        drop_last=case["drop_last"], seed=case["seed"])
    return loader.batch_order(case["epoch"])


@ref("ch7.crop_flip")
def _crop_flip(case):
    from engine.data import transforms as T

    image = array(case["image"])
    rng = np.random.default_rng(case["seed"])  # one generator: crop draws first, then flip
    pipeline = T.Compose([T.RandomCrop(image.shape[1:], padding=case["padding"], generator=rng),
                          T.RandomHorizontalFlip(generator=rng)])
    return enc(pipeline(image))


@ref("ch10.shard")
def _shard(case):
    from course.parallel import shard

    return shard(case["indices"], case["rank"], case["world_size"])


@ref("ch10.buckets")
def _buckets(case):
    from course.parallel import assign_buckets

    return assign_buckets(case["nbytes"], case["cap"])


@ref("ch10.ring")
def _ring(case):
    import engine
    from course.parallel import ring_traffic

    arrays = [engine.tensor(array(a)) for a in case["arrays"]]
    total = engine.stack(arrays).sum(dim=0)
    return [[enc(total.numpy())] * len(arrays),
            [ring_traffic(arrays[0].numel(), len(arrays))] * len(arrays)]
