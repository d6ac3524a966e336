"""Chapter 5: SGD with momentum and weight decay, Adam, clip_grad_norm_ (torch's rules)."""

from . import valid, wrong

_SGD = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers = [None] * len(self.params)

    def step(self):
        with {mode}:
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                g = p.grad{decay_before}
                if self.momentum != 0:
                    buf = self.buffers[i]
                    buf = {first} if buf is None else {update}
                    self.buffers[i] = g = buf
                g = g{decay_after}
                {apply}

    def zero_grad(self):
        {zero}
'''
_DECAY = " + self.weight_decay * p"


def _sgd(mode="no_grad()", decay_before=_DECAY, decay_after="", first="g.clone()",
         update="self.momentum * buf + g", apply="p -= self.lr * g",
         zero="for p in self.params:\n            p.grad = None"):
    return _SGD.format(mode=mode, decay_before=decay_before, decay_after=decay_after,
                       first=first, update=update, apply=apply, zero=zero)


_ADAM = '''
class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0
        self.m = [engine.zeros_like(p) for p in self.params]
        self.v = [engine.zeros_like(p) for p in self.params]

    def step(self):
        {t_outside}
        beta1, beta2 = self.betas
        with {mode}:
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                {t_inside}
                {decay}
                self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
                self.v[i] = beta2 * self.v[i] + (1 - beta2) * g * g
                {update}

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''
_ADAM_UPDATE = ("m_hat = self.m[i] / (1 - beta1**self.t)\n"
                "                v_hat = self.v[i] / (1 - beta2**self.t)\n"
                "                {apply}")


def _adam(mode="no_grad()", t_outside="self.t += 1", t_inside="",
          decay="g = p.grad + self.weight_decay * p",
          apply="p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)", update=None):
    update = update or _ADAM_UPDATE.format(apply=apply)
    return _ADAM.format(mode=mode, t_outside=t_outside, t_inside=t_inside, decay=decay,
                        update=update)


_CLIP = '''
def clip_grad_norm_(params, max_norm):
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum((g * g).sum().item() for g in grads))
    {body}
    return total
'''


def _clip(body):
    return _CLIP.format(body=body)


ANSWERS = {
    "ch5.sgd": [
        wrong("momentum as an average (1 - momentum)",
              _sgd(update="self.momentum * buf + (1 - self.momentum) * g"),
              hint="no (1 - momentum) factor"),
        wrong("p.data updated without no_grad: the buffers grow a graph (the issue's answer)",
              _sgd(mode="engine.enable_grad()", apply="p.data = p.data - self.lr * g"),
              hint="autograd recording"),
        wrong("weight decay after the momentum", _sgd(decay_before="", decay_after=_DECAY),
              hint="*before* the momentum buffer"),
        wrong("no weight decay", _sgd(decay_before=""), hint="weight decay is missing"),
        wrong("zero_grad does nothing", _sgd(zero="pass"), hint="zero_grad()"),
        valid("numpy buffers, zeroed gradients", _sgd(
            decay_before=".numpy() + self.weight_decay * p.detach().numpy()",
            first="g.copy()", apply="p -= Tensor(self.lr * g)",
            zero="for p in self.params:\n            p.grad = engine.zeros_like(p)")),
        valid("p.data rebound inside no_grad",
              _sgd(first="g.detach()", apply="p.data = p.data - self.lr * g")),
    ],
    "ch5.adam": [
        wrong("no bias correction", _adam(update="p -= self.lr * self.m[i] / "
                                                 "(self.v[i].sqrt() + self.eps)"),
              hint="bias correction is missing"),
        wrong("eps inside the square root",
              _adam(apply="p -= self.lr * m_hat / (v_hat + self.eps).sqrt()"),
              hint="eps goes outside"),
        wrong("AdamW's decoupled decay",
              _adam(decay="p *= 1 - self.lr * self.weight_decay\n                g = p.grad"),
              hint="AdamW"),
        wrong("t counted per parameter", _adam(t_outside="", t_inside="self.t += 1")),
        wrong("without no_grad: m and v grow a graph",
              _adam(mode="engine.enable_grad()",
                    apply="p.data = p.data - self.lr * m_hat / (v_hat.sqrt() + self.eps)"),
              hint="autograd recording"),
        valid("the step size folded (torch's own arrangement)", _adam(update=(
            "c1, c2 = 1 - beta1**self.t, 1 - beta2**self.t\n"
            "                step = self.lr * math.sqrt(c2) / c1\n"
            "                p -= step * self.m[i] / (self.v[i].sqrt() + self.eps * math.sqrt(c2))"
        ))),
        valid("divide by the bias corrections inline", _adam(
            apply="p -= self.lr * (self.m[i] / (1 - beta1**self.t)) / "
                  "((self.v[i] / (1 - beta2**self.t)).sqrt() + self.eps)")),
    ],
    "ch5.clip": [
        wrong("each gradient clipped by its own norm", """
            def clip_grad_norm_(params, max_norm):
                grads = [p.grad for p in params if p.grad is not None]
                total = math.sqrt(sum((g * g).sum().item() for g in grads))
                with no_grad():
                    for g in grads:
                        norm = math.sqrt((g * g).sum().item())
                        if norm > max_norm:
                            g *= max_norm / (norm + 1e-6)
                return total
            """, hint="*total* norm"),
        wrong("scales up too", _clip("with no_grad():\n        for g in grads:\n"
                                     "            g *= max_norm / (total + 1e-6)"),
              hint="only scale down"),
        wrong("no 1e-6", _clip("if total > max_norm:\n        with no_grad():\n"
                               "            for g in grads:\n"
                               "                g *= max_norm / total"), hint="1e-6"),
        wrong("returns the norm after clipping", """
            def clip_grad_norm_(params, max_norm):
                grads = [p.grad for p in params if p.grad is not None]
                total = math.sqrt(sum((g * g).sum().item() for g in grads))
                if total > max_norm:
                    with no_grad():
                        for g in grads:
                            g *= max_norm / (total + 1e-6)
                return math.sqrt(sum((g * g).sum().item() for g in grads))
            """, hint="taken before clipping"),
        wrong("empties the list it was given (issue 13)", """
            def clip_grad_norm_(params, max_norm):
                total = math.sqrt(sum((p.grad * p.grad).sum().item() for p in params))
                params.clear()
                return total
            """),
        valid("numpy norms, new gradient tensors", """
            def clip_grad_norm_(params, max_norm):
                params = [p for p in params if p.grad is not None]
                total = float(np.linalg.norm([np.linalg.norm(p.grad.numpy()) for p in params]))
                coef = min(max_norm / (total + 1e-6), 1.0)
                for p in params:
                    p.grad = Tensor(p.grad.numpy() * coef)
                return total
            """),
        valid("clamped coefficient, always multiplied",
              _clip("coef = min(1.0, max_norm / (total + 1e-6))\n    with no_grad():\n"
                    "        for g in grads:\n            g *= coef")),
    ],
}
