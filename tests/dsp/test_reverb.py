"""Tests of graphfx.dsp.reverb: Freeverb against a plain per-sample reference, the
properties both modes share (decay, size, damping, width, level, determinism), grad
mode's exact gradients on CPU, and the CUDA path's approximation (run here on CPU)."""
import numpy as np
import pytest
import torch

from graphfx.dsp.reverb import PROCESSORS, _FreeverbTanks, _reverb_fft, reverb, stereo_reverb

SR = 16000
#: Combs of 51..74 samples and allpasses of 10..25 at this rate: in gradcheck's few hundred
#: samples every recursion feeds back several times.
GRADCHECK_SR = 2000
PARAMS = ["size", "damping", "width", "mix"]


def _params(batch=1, size=0.5, damping=0.5, width=1.0, mix=1.0):
    values = dict(size=size, damping=damping, width=width, mix=mix)
    return {k: torch.as_tensor(v, dtype=torch.float32).expand(batch).clone() for k, v in values.items()}


class _Comb:
    def __init__(self, length, feedback, damp):
        self.buffer, self.index, self.store = np.zeros(length), 0, 0.0
        self.feedback, self.damp = feedback, damp

    def process(self, u):
        out = self.buffer[self.index]
        self.store = out * (1 - self.damp) + self.store * self.damp
        self.buffer[self.index] = u + self.store * self.feedback
        self.index = (self.index + 1) % len(self.buffer)
        return out


class _Allpass:
    def __init__(self, length):
        self.buffer, self.index = np.zeros(length), 0

    def process(self, u):
        delayed = self.buffer[self.index]
        self.buffer[self.index] = u + delayed * 0.5
        self.index = (self.index + 1) % len(self.buffer)
        return delayed - u


def _freeverb_reference(x, size, damping, width, mix, sample_rate, mono):
    """Jezar's revmodel.processreplace, written out per sample (float64)."""
    scale = sample_rate / 44100
    feedback, damp = size * 0.28 + 0.7, damping * 0.4
    tanks = []
    for spread in (0, 23):
        combs = [_Comb(round((t + spread) * scale), feedback, damp)
                 for t in (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)]
        allpasses = [_Allpass(round((t + spread) * scale)) for t in (556, 441, 341, 225)]
        tanks.append((combs, allpasses))
    wet1, wet2 = mix * (1 + width) / 2, mix * (1 - width) / 2
    y = np.zeros_like(x)
    for n in range(x.shape[1]):
        inputs = [0.015 * (x[0, n] + x[1, n])] * 2 if mono else [0.03 * x[0, n], 0.03 * x[1, n]]
        outs = []
        for (combs, allpasses), u in zip(tanks, inputs):
            acc = sum(c.process(u) for c in combs)
            for a in allpasses:
                acc = a.process(acc)
            outs.append(acc)
        y[0, n] = (1 - mix) * x[0, n] + wet1 * outs[0] + wet2 * outs[1]
        y[1, n] = (1 - mix) * x[1, n] + wet1 * outs[1] + wet2 * outs[0]
    return y


def _impulse(batch, n):
    x = torch.zeros(batch, 2, n)
    x[..., 0] = 1.0
    return x


def _energy(y, start, stop):
    return y[..., start:stop].pow(2).sum(dim=(-1, -2))


def _centroid(y):
    power = torch.fft.rfft(y, dim=-1).abs().pow(2).sum(-2)
    return (power * torch.arange(power.shape[-1])).sum(-1) / power.sum(-1)


@pytest.mark.parametrize("n", [2501, 2500])
@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_fast_mode_is_freeverb(n, name):
    torch.manual_seed(0)
    x = torch.rand(2, 2, n) * 2 - 1
    values = [dict(size=0.9, damping=0.2, width=0.7, mix=0.6), dict(size=0.1, damping=1.0, width=0.0, mix=1.0)]
    params = {k: torch.tensor([v[k] for v in values]) for k in values[0]}
    y = PROCESSORS[name]({"in": x}, params, sample_rate=SR)["out"].numpy()
    for b, v in enumerate(values):
        ref = _freeverb_reference(x[b].double().numpy(), **v, sample_rate=SR, mono=name == "reverb")
        np.testing.assert_allclose(y[b], ref, atol=1e-5)


def test_onset_is_shortest_comb():
    y = reverb({"in": _impulse(1, 1000)}, _params(), sample_rate=SR)["out"][0]
    first = int(torch.nonzero(y[0].abs() > 0)[0])                        # mix = 1: wet only
    assert first == round(1116 * SR / 44100)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_impulse_response_decays(grad, name):
    n = 16000
    y = PROCESSORS[name]({"in": _impulse(1, n)}, _params(), sample_rate=SR, grad=grad)["out"]
    assert _energy(y, n - n // 10, n) < 1e-4 * _energy(y, 0, n // 10)


@pytest.mark.parametrize("grad", [False, True])
def test_size_lengthens_and_damping_darkens(grad):
    n = 16000
    x = _impulse(4, n)
    params = _params(4, size=torch.tensor([0.0, 1.0, 0.5, 0.5]), damping=torch.tensor([0.5, 0.5, 0.0, 1.0]))
    y = reverb({"in": x}, params, sample_rate=SR, grad=grad)["out"]
    late = _energy(y, 4000, n) / _energy(y, 0, n)
    assert late[1] > 10 * late[0]
    tail_centroid = _centroid(y[..., 4000:])
    assert tail_centroid[3] < 0.8 * tail_centroid[2]


@pytest.mark.parametrize("grad", [False, True])
def test_width(grad):
    torch.manual_seed(1)
    x = torch.rand(1, 2, 4001) * 2 - 1
    y = reverb({"in": x}, _params(width=0.0), sample_rate=SR, grad=grad)["out"][0]
    torch.testing.assert_close(y[0], y[1], atol=1e-6, rtol=0)
    # Stereo tanks at full width: a left-only input leaves the right channel silent.
    x[:, 1] = 0
    y = stereo_reverb({"in": x}, _params(width=1.0), sample_rate=SR, grad=grad)["out"][0]
    assert y[1].abs().max() < 1e-6 < y[0].abs().max()


@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_cuda_path_matches_fast_level_and_decay(name):
    """The CUDA path's synthetic impulse response carries Freeverb's energy, and roughly its decay.

    (Grad mode on CPU is exact now; the CUDA path's function runs here on CPU tensors.)
    """
    n = 16000
    sizes, dampings = torch.tensor([0.0, 0.5, 1.0, 0.5]), torch.tensor([0.5, 0.0, 0.5, 1.0])
    params = _params(4, size=sizes, damping=dampings)
    x = _impulse(4, n)
    fast = PROCESSORS[name]({"in": x}, params, sample_rate=SR)["out"]
    slow = _reverb_fft(x, params, SR, mono=name == "reverb")
    level_db = 10 * torch.log10(_energy(slow, 0, n) / _energy(fast, 0, n))
    assert level_db.abs().max() < 1.0
    late_db = 10 * torch.log10(_energy(slow, 4000, 8000) / _energy(fast, 4000, 8000))
    assert late_db.abs().max() < 6.0


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_deterministic(grad, name):
    torch.manual_seed(2)
    x = torch.randn(2, 2, 3001)
    params = _params(2, size=torch.tensor([0.3, 0.8]))
    first = PROCESSORS[name]({"in": x}, params, sample_rate=SR, grad=grad)["out"]
    second = PROCESSORS[name]({"in": x.clone()}, params, sample_rate=SR, grad=grad)["out"]
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_gradients_flow(name):
    torch.manual_seed(3)
    x = torch.randn(2, 2, 3001, requires_grad=True)
    params = {k: v.requires_grad_() for k, v in _params(2, size=0.6, damping=0.4, width=0.5, mix=0.5).items()}
    PROCESSORS[name]({"in": x}, params, sample_rate=SR, grad=True)["out"].pow(2).sum().backward()
    for t in [x, *params.values()]:
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_finite_at_extremes(grad, name):
    corners = [(s, d, w, m) for s in (0.0, 1.0) for d in (0.0, 1.0) for w in (0.0, 1.0) for m in (0.0, 1.0)]
    params = {k: torch.tensor([c[i] for c in corners]) for i, k in enumerate(["size", "damping", "width", "mix"])}
    torch.manual_seed(4)
    for x in [torch.zeros(len(corners), 2, 3001), torch.rand(len(corners), 2, 3001) * 2 - 1]:
        y = PROCESSORS[name]({"in": x}, params, sample_rate=SR, grad=grad)["out"]
        assert y.shape == x.shape and torch.isfinite(y).all() and y.abs().max() < 20
        if not x.any():
            assert not y.any()


@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_cuda_path_gradients_flow(name):
    torch.manual_seed(3)
    x = torch.randn(2, 2, 3001, requires_grad=True)
    params = {k: v.requires_grad_() for k, v in _params(2, size=0.6, damping=0.4, width=0.5, mix=0.5).items()}
    _reverb_fft(x, params, SR, mono=name == "reverb").pow(2).sum().backward()
    for t in [x, *params.values()]:
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


# --- grad mode on CPU: exact Freeverb with its adjoint ------------------------------
def _random_params(batch, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(batch, generator=g, dtype=torch.float64).to(dtype) for k in PARAMS}


@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_grad_mode_equals_fast_mode_on_cpu(name):
    x = torch.rand(3, 2, 4001, generator=torch.Generator().manual_seed(6)) * 2 - 1
    params = _random_params(3, 6)
    fast = PROCESSORS[name]({"in": x}, params, sample_rate=SR)["out"]
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    y = PROCESSORS[name]({"in": x.clone().requires_grad_()}, leaves, sample_rate=SR, grad=True)["out"]
    assert y.dtype == torch.float32 and y.requires_grad
    assert torch.equal(y.detach(), fast)  # the same kernels, the same float32 sums


@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_grad_mode_gradcheck(name):
    """Input, size, damping (through the Function), mix and width (through torch), float64."""
    x = (torch.rand(2, 2, 300, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 2 - 1)
    params = _random_params(2, 7, torch.float64)
    params["size"] = torch.tensor([0.3, 1.0], dtype=torch.float64)  # roomsize 0.78 and 0.98

    def run(x, *values):
        return PROCESSORS[name]({"in": x}, dict(zip(PARAMS, values)), sample_rate=GRADCHECK_SR, grad=True)["out"]

    inputs = [x.requires_grad_(), *(params[k].requires_grad_() for k in PARAMS)]
    assert torch.autograd.gradcheck(run, inputs)


@pytest.mark.parametrize("mono", [True, False])
def test_tanks_function_gradcheck_short_delays(mono):
    """Rings of 1 sample and up, and damping beyond Freeverb's 0.4: every recursion turns over often."""
    comb_len = np.array([[1, 2, 3, 5, 7, 11, 13, 17], [2, 4, 6, 8, 9, 10, 12, 19]])
    allpass_len = np.array([[1, 3, 4, 2], [5, 2, 3, 1]])
    x = torch.randn(2, 2, 80, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    feedback = torch.tensor([0.95, 0.7], dtype=torch.float64)
    damp = torch.tensor([0.3, 0.9], dtype=torch.float64)
    run = lambda x, f, d: _FreeverbTanks.apply(x, f, d, comb_len, allpass_len, mono)  # noqa: E731
    assert torch.autograd.gradcheck(run, [t.requires_grad_() for t in (x, feedback, damp)])


@pytest.mark.parametrize("name", ["reverb", "stereo_reverb"])
def test_grad_mode_float32_gradients_match_float64(name):
    """The float32 adjoint (the one refinement runs) at full comb lengths, against float64."""
    g = torch.Generator().manual_seed(9)
    x, weights = torch.randn(2, 2, 6001, generator=g), torch.randn(2, 2, 6001, generator=g)
    grads = []
    for dtype in (torch.float32, torch.float64):
        xd = x.to(dtype, copy=True).requires_grad_()
        params = {k: v.requires_grad_() for k, v in _random_params(2, 9, dtype).items()}
        y = PROCESSORS[name]({"in": xd}, params, sample_rate=SR, grad=True)["out"]
        (y * weights.to(dtype)).sum().backward()  # L and R weighted apart: width matters
        grads.append([xd.grad, *(params[k].grad for k in PARAMS)])
    for g32, g64 in zip(*grads):
        torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=1e-5 * g64.abs().max().item())
