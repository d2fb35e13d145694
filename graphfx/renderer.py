"""Batched rendering of audio processing graphs.

:func:`render` runs many different graphs at once. All graphs are first
collated into one disjoint-union graph (PyG's ``Batch``); nodes are then run
level by level (a node's level is its longest distance from a source), and at
each level all nodes of one type, from every graph of the batch, are processed
by a single call of the processor. A graph of 10 nodes batched 32 times thus
costs about 10 processor calls, not 320.

Rules of the signal flow (Section 2 of Lee et al., 2023):

* signals arriving on one inlet are summed, each scaled by its edge gain;
* **modulation**: a control signal ``c`` (``lfo`` in [-1, 1], ``env`` in
  [0, 1]) arriving on a control inlet moves the driven parameter on its
  normalized [0, 1] scale: ``u(t) = clip(u + sum_e gain_e * c_e(t), 0, 1)``,
  then back to plain units. The ``frequency``, ``gain`` and ``pan`` inlets
  drive the parameter of the same name; ``mod`` drives ``frequency`` of a
  phaser and ``delay`` of chorus, flanger and vibrato
  (:meth:`~graphfx.catalog.ProcessorSpec.modulated_param`);
* **energy normalization** (on by default): each processor's audio outputs
  are rescaled together so that their total energy equals the energy of its
  audio input (``in``, or ``mid`` + ``side``); sidechains do not count.
  In fast mode on CPU one compiled kernel measures an output (float64
  sums), rescales it in place and measures the result, clip by clip while
  the clip is in cache; the next node takes that as its input's energy, so
  along a chain each signal is read once for its energy, not three times.
  Control signals are routed to their parameters by a compiled kernel too.

What the renderer needs to know of each processor (channel-wise, generator,
modulation target, energy-normalized) is a field of its
:class:`~graphfx.catalog.ProcessorSpec`.

**Threads.** In fast mode on CPU, a batch is split into as many parts as
torch has threads (``torch.set_num_threads``; at least :data:`MIN_PART`
graphs each), rendered side by side in a thread pool: the compiled kernels
release the GIL, and one batch thus uses every core it is given instead of
the single one a recursion runs on.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numba
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, HeteroData

from graphfx import catalog
from graphfx.dsp import get_processor
from graphfx.errors import AudioError, GraphError
from graphfx.graph import HETERO_EDGE as EDGE, HETERO_NODE as NODE, AudioGraph

EPS = 1e-12
#: Fewest graphs in each part of a batch rendered on several threads.
MIN_PART = 4

Graphs = Union[AudioGraph, Sequence[AudioGraph], HeteroData]
Audio = Union[Tensor, Mapping[str, Tensor]]
ParamHook = Callable[[str, List[int], Dict[str, Tensor], Tensor], Tensor]


def render(graphs: Graphs, audio: Audio, *, sample_rate: Optional[int] = None, normalize: bool = True,
           grad: bool = False, choose_params: Optional[ParamHook] = None) -> Tensor:
    """Renders one graph, a list of graphs, or a PyG batch of graphs.

    Args:
        graphs: an :class:`AudioGraph`, a list of them, or a ``HeteroData``
            batch (from ``Batch.from_data_list``); with a batch, gradients flow
            to ``params`` and ``gain`` tensors that require them.
        audio: dry audio ``[B, C, T]`` (C = 1 or 2; mono is copied to both
            channels) for graphs with an ``in`` node, or a dict mapping drum
            sources (``kick`` ...) to such tensors for drum graphs. ``B`` must
            equal the number of graphs.
        sample_rate: rate of ``audio``; defaults to the graphs' own.
        normalize: energy normalization of every processor (see module docs).
        grad: differentiable mode: only torch operations, gradients flow to
            the input audio and to the parameters.
        choose_params: optional hook ``(node_type, nodes, audio, params) -> params``
            called just before each group of nodes runs, with the global node
            indices, their audio inputs (inlet -> ``[n, 2, T]``, or ``[n, 1, T]``
            when a channel-wise processor's clips all have equal channels) and their
            normalized parameters ``[n, P]``; what it returns replaces those
            parameters (in the batch too, when ``graphs`` is a batch). This is
            how :mod:`graphfx.synth` sets parameters adaptively to the signal
            reaching each node.

    Returns:
        The rendered stereo audio, ``[B, 2, T]``.
    """
    items = _hetero_list(graphs)  # None for a batch: it is rendered as it is
    if items == []:
        raise GraphError("empty", "there are no graphs to render")
    batch = graphs if items is None else None
    num_graphs = len(items) if items is not None else int(batch[NODE].ptr.numel() - 1)
    sources = _prepare_audio(audio, num_graphs)
    rate = int(sample_rate or _first((items[0] if items else batch).sample_rate))
    parts = min(torch.get_num_threads(), num_graphs // MIN_PART)
    on_cpu = all(x.device.type == "cpu" for x in sources.values())
    if grad or choose_params is not None or parts < 2 or not on_cpu:  # the hook sees global node indices
        batch = batch if batch is not None else Batch.from_data_list(items)
        return _Renderer(batch, sources, rate, normalize, grad, choose_params).run()
    return _render_in_parts(items if items is not None else batch.to_data_list(), sources, rate, normalize, parts)


def _render_in_parts(graphs: List[HeteroData], sources: Dict[str, Tensor], rate: int, normalize: bool,
                     parts: int) -> Tensor:
    """Fast-mode rendering of ``graphs`` split into ``parts`` runs of consecutive graphs (each collated on its
    own), one thread each."""
    bounds = [round(k * len(graphs) / parts) for k in range(parts + 1)]

    def render_part(k: int) -> Tensor:
        part = Batch.from_data_list(graphs[bounds[k]:bounds[k + 1]])
        audio = {name: x[bounds[k]:bounds[k + 1]] for name, x in sources.items()}
        return _Renderer(part, audio, rate, normalize, False).run()

    with ThreadPoolExecutor(parts) as pool:
        return torch.cat(list(pool.map(render_part, range(parts))))


def memory_needed(graph: AudioGraph, num_samples: int) -> int:
    """A generous estimate of the bytes :func:`render` takes for one graph on ``num_samples``.

    A stereo float32 signal per node and eight working copies (measured on the example graphs:
    about 70 bytes a sample, nine such signals). Rendering needs the whole clip at once: each
    processor's energy normalization measures all of it, so a clip cannot be cut into blocks.
    """
    return 2 * 4 * int(num_samples) * (len(graph.nodes) + 8)


def _first(value):
    return int(value[0]) if isinstance(value, (list, tuple, Tensor)) else int(value)


def _hetero_list(graphs: Graphs) -> Optional[List[HeteroData]]:
    """Each graph as ``HeteroData``; ``None`` when ``graphs`` is already a PyG batch."""
    if isinstance(graphs, AudioGraph):
        return [graphs.to_hetero()]
    if isinstance(graphs, HeteroData):
        return None if hasattr(graphs[NODE], "ptr") else [graphs]  # a batch, or a single graph
    return [g.to_hetero() for g in graphs]


def _prepare_audio(audio: Audio, num_graphs: int) -> Dict[str, Tensor]:
    tracks = {"in": audio} if isinstance(audio, Tensor) else dict(audio)
    out = {}
    for name, x in tracks.items():
        if name not in catalog.INPUT_TYPES:
            raise AudioError(f"unknown input track {name!r}; expected one of {list(catalog.INPUT_TYPES)}")
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[1] not in (1, 2):
            raise AudioError(f"audio for {name!r} must be [batch, 1 or 2 channels, samples], got {list(x.shape)}")
        if x.shape[0] != num_graphs:
            raise AudioError(f"audio for {name!r} has batch {x.shape[0]} but there are {num_graphs} graphs")
        if x.shape[-1] == 0:
            raise AudioError(f"audio for {name!r} is empty")
        if not torch.isfinite(torch.stack(torch.aminmax(x))).all():  # one pass; NaN propagates; no [B, C, T] mask
            raise AudioError(f"audio for {name!r} contains NaN or Inf")
        out[name] = x.expand(-1, 2, -1).float() if x.shape[1] == 1 else x.float()
    lengths = {x.shape[-1] for x in out.values()}
    if len(lengths) > 1:
        raise AudioError(f"input tracks differ in length: {sorted(lengths)}")
    return out


class _Renderer:
    """One rendering pass over a collated batch."""

    def __init__(self, batch: HeteroData, sources: Dict[str, Tensor], sample_rate: int, normalize: bool,
                 grad: bool, choose_params: Optional[ParamHook] = None):
        self.sources, self.sample_rate, self.normalize, self.grad = sources, sample_rate, normalize, grad
        self.choose_params = choose_params
        some = next(iter(sources.values()))
        self.num_samples, self.device = some.shape[-1], some.device
        store, edges = batch[NODE], batch[EDGE]
        self.types = [catalog.NODE_TYPES[t] for t in store.proc_type.tolist()]
        self.graph_of = store.batch.tolist()
        self.params = store.params.to(self.device)  # [N, P] normalized
        if choose_params is not None:
            self.params, self.batch_params = self.params.detach().clone(), store.params
        src, dst = edges.edge_index.tolist()
        ports = edges.port.tolist()
        self.gain = edges.gain.to(self.device, torch.float32)
        # Edges whose gain is exactly 1 and needs no gradient can pass signals through untouched.
        self.unit_gain = [g == 1.0 and not edges.gain.requires_grad for g in edges.gain.tolist()]
        # Fast mode on CPU: compiled kernels route modulation and normalize energies.
        self.fast = not grad and self.device.type == "cpu"
        self.gain_values = self.gain.tolist() if self.fast else None  # float32 values, for the kernels
        self.inputs: List[Dict[str, List[tuple]]] = [{} for _ in self.types]  # node -> inlet -> [(src, outlet, e)]
        self.consumers = [0] * len(self.types)
        for e, (s, d, (o, i)) in enumerate(zip(src, dst, ports)):
            self.inputs[d].setdefault(catalog.INLETS[i], []).append((s, catalog.OUTLETS[o], e))
            self.consumers[s] += 1
        # node -> (its group's outputs, outlet -> [n, 2, T]; the node's row in them; the group's
        # energies, outlet -> [n] float64, of the outlets normalized in fast mode)
        self.outputs: Dict[int, tuple] = {}

    def run(self) -> Tensor:
        for level in self._levels():
            groups: Dict[str, List[int]] = {}
            for node in level:
                groups.setdefault(self.types[node], []).append(node)
            for node_type, nodes in groups.items():
                self._run_group(node_type, nodes)
        outs = sorted((self.graph_of[n], n) for n, t in enumerate(self.types) if t == "out")
        return torch.cat([self._signal(n, "out") for _, n in outs])

    def _levels(self) -> List[List[int]]:
        level = [0] * len(self.types)
        pending = [len([s for edges in ins.values() for s in edges]) for ins in self.inputs]
        children: List[List[int]] = [[] for _ in self.types]
        for d, ins in enumerate(self.inputs):
            for edges in ins.values():
                for s, _, _ in edges:
                    children[s].append(d)
        frontier = [n for n, p in enumerate(pending) if p == 0]
        order = []
        while frontier:
            node = frontier.pop()
            order.append(node)
            for child in children[node]:
                level[child] = max(level[child], level[node] + 1)
                pending[child] -= 1
                if pending[child] == 0:
                    frontier.append(child)
        levels: Dict[int, List[int]] = {}
        for node in sorted(order):
            levels.setdefault(level[node], []).append(node)
        return [levels[k] for k in sorted(levels)]

    def _signal(self, node: int, outlet: str) -> Tensor:
        outs, row, _ = self.outputs[node]
        return outs[outlet][row:row + 1]

    def _inlet(self, node: int, inlet: str) -> Optional[Tensor]:
        """Sum of gain * signal over the edges arriving on one inlet; ``None`` if unconnected."""
        return self._edge_sum(self.inputs[node].get(inlet, ()))

    def _gather(self, nodes: List[int], inlet: str) -> Tuple[Union[Tensor, List, None], Optional[Tensor]]:
        """The summed signals on ``inlet`` of every node of a group, ``[n, 2, T]``, and their energies
        (``[n]`` float64) when already known, else ``None``.

        When each node has one unit-gain edge from the same earlier group
        (a chain), this is a view or a single ``index_select`` of that group's
        output, with no per-node copies, and the energies that group's
        normalization measured. Otherwise a list of each node's sum (``None``
        where unconnected), or ``None`` if no node's inlet is connected.
        """
        edges = [self.inputs[n].get(inlet, ()) for n in nodes]
        if all(len(e) == 1 and self.unit_gain[e[0][2]] for e in edges):
            sources = [self.outputs[e[0][0]] for e in edges]
            outlets = {e[0][1] for e in edges}
            if len(outlets) == 1 and all(src[0] is sources[0][0] for src in sources):
                outlet = outlets.pop()
                batched, energies = sources[0][0][outlet], sources[0][2].get(outlet)
                rows = [src[1] for src in sources]
                for e in edges:
                    self._release(e[0][0])
                if rows == list(range(rows[0], rows[0] + len(rows))):
                    block = slice(rows[0], rows[0] + len(rows))
                    return batched[block], None if energies is None else energies[block]
                index = torch.tensor(rows, device=batched.device)
                return batched.index_select(0, index), None if energies is None else energies[index]
        signals = [self._inlet(n, inlet) for n in nodes]
        if all(s is None for s in signals):
            return None, None
        return signals, None

    def _release(self, node: int) -> None:
        self.consumers[node] -= 1
        if self.consumers[node] == 0 and self.types[node] != "out":
            del self.outputs[node]  # the group tensor goes when its last node's entry does

    def _run_group(self, node_type: str, nodes: List[int]) -> None:
        spec = catalog.get(node_type)
        if node_type in catalog.INPUT_TYPES:
            for n in nodes:
                self._check_source(node_type, self.graph_of[n])
                self.outputs[n] = ({"out": self.sources[node_type]}, self.graph_of[n], {})
            return
        audio, known = {}, {}  # audio inlet -> [n, 2, T]; -> its energies [n] where already measured
        for inlet in spec.inlets:
            if inlet in catalog.CONTROL_INLETS:
                continue
            signals, energies = self._gather(nodes, inlet)
            if isinstance(signals, list):
                # An unconnected sidechain means "listen to the input itself".
                fill = [audio["in"][i] if inlet == "sidechain" else self._zeros() for i in range(len(nodes))]
                signals = torch.stack([f if s is None else s[0] for f, s in zip(fill, signals)])
            if signals is not None:
                audio[inlet] = signals
            if energies is not None:
                known[inlet] = energies
        if node_type == "out":
            outs = {"out": audio["in"]}
            for i, n in enumerate(nodes):
                self.outputs[n] = (outs, i, {})
            return
        # Connected control inlets -> each node's edges (src, outlet, e) on them; summed in _params.
        controls = {inlet: [self.inputs[n].get(inlet, ()) for n in nodes]
                    for inlet in spec.inlets if inlet in catalog.CONTROL_INLETS}
        controls = {inlet: edges for inlet, edges in controls.items() if any(edges)}
        mono = (not self.grad and spec.channelwise and not controls
                and all(_equal_channels(x) for x in audio.values()))
        if mono:
            audio = {k: x[:, :1] for k, x in audio.items()}
        if self.choose_params is not None:
            chosen = self.choose_params(node_type, nodes, audio, self.params[nodes])
            self.params[nodes] = chosen.to(self.params)
            self.batch_params[nodes] = chosen.to(self.batch_params)
        params = self._params(spec, nodes, controls)
        kwargs = {"num_samples": self.num_samples, "batch_size": len(nodes)} if spec.generator else {}
        outs = get_processor(node_type)(audio, params, sample_rate=self.sample_rate, grad=self.grad, **kwargs)
        energies = {}
        if self.normalize and spec.energy_normalized and any(k in audio for k in catalog.SIGNAL_INLETS):
            outs, energies = _normalize_energy(audio, outs, known, self.fast)
        if mono:
            outs = {k: x.expand(-1, 2, -1) for k, x in outs.items()}
        for i, n in enumerate(nodes):
            self.outputs[n] = (outs, i, energies)

    def _params(self, spec: catalog.ProcessorSpec, nodes: List[int], controls: Dict[str, List]) -> Dict[str, Tensor]:
        """Plain-unit parameters of a group: ``[n]``, or ``[n, 2, T]`` where a control inlet drives one."""
        unit = self.params[nodes]  # [n, P] normalized
        drive = {spec.modulated_param(inlet): edges for inlet, edges in controls.items()}
        params = {}
        for j, p in enumerate(spec.params):
            u = unit[:, j].float()
            params[p.name] = self._modulated(p, u, drive[p.name]) if p.name in drive else p.denormalize(u)
        return params

    def _modulated(self, param: catalog.Param, unit: Tensor, edges: List[tuple]) -> Tensor:
        """``param`` in plain units sample by sample, ``[n, 2, T]``: ``unit`` ``[n]`` moved by the summed
        control signals on each node's ``edges`` and clipped to [0, 1]."""
        fast = self._modulated_fast(param, unit, edges) if self.fast else None
        if fast is not None:
            return fast
        signals = [self._edge_sum(node_edges) for node_edges in edges]
        drive = torch.stack([self._zeros() if s is None else s[0] for s in signals])
        return param.denormalize((unit[:, None, None] + drive).clamp(0.0, 1.0))

    def _edge_sum(self, edges: Sequence[tuple]) -> Optional[Tensor]:
        """Sum of gain * signal over ``edges`` (src, outlet, e), ``[1, 2, T]``; ``None`` for no edge."""
        total = None
        for src, outlet, e in edges:
            signal = self._signal(src, outlet)
            if not self.unit_gain[e]:
                signal = signal * self.gain[e]
            total = signal if total is None else total + signal
            self._release(src)
        return total

    def _modulated_fast(self, param: catalog.Param, unit: Tensor, edges: List[tuple]) -> Optional[Tensor]:
        """:meth:`_modulated` by one compiled pass (and an in-place ``exp`` for a log scale), when every
        control signal comes from one outlet of one earlier group (the usual case: all LFOs of a level
        run as one group); ``None`` otherwise. The same float32 operations in the same order."""
        sources = {(id(self.outputs[src][0]), outlet) for node_edges in edges for src, outlet, _ in node_edges}
        if len(sources) != 1:
            return None
        src, outlet, _ = edges[next(i for i, e in enumerate(edges) if e)][0]
        signals = self.outputs[src][0][outlet]
        if signals.shape[1] != 2:
            return None
        flat, offsets = _flat_rows(signals)  # offsets [m, C] of each row of the source group
        most = max(len(node_edges) for node_edges in edges)
        rows = np.full((len(edges), most), -1, dtype=np.int64)
        gains = np.zeros((len(edges), most), dtype=np.float32)
        for i, node_edges in enumerate(edges):
            for k, (s, _, e) in enumerate(node_edges):
                rows[i, k], gains[i, k] = self.outputs[s][1], self.gain_values[e]
        out = torch.empty(len(edges), 2, self.num_samples)
        lo, span = param.unit_span()
        _modulation_kernel(flat, offsets, rows, gains, unit.detach().numpy(), np.float32(lo), np.float32(span),
                           out.numpy())
        for node_edges in edges:
            for s, _, _ in node_edges:
                self._release(s)
        return out.exp_() if param.scale == "log" else out

    def _check_source(self, name: str, graph: int) -> None:
        if name not in self.sources:
            raise AudioError(f"graph {graph} has a [{name}] node but no {name!r} audio was given")

    def _zeros(self) -> Tensor:
        return torch.zeros(2, self.num_samples, device=self.device)


def _normalize_energy(audio: Dict[str, Tensor], outs: Dict[str, Tensor], known: Dict[str, Tensor],
                      fast: bool) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """Rescales the audio outlets so their summed energy equals the audio input's.

    ``known`` holds the energies of audio inlets already measured (``[n]`` float64; by the normalization
    of the group that made them). In fast mode (``fast``, and no tensor needs a gradient) the energies are
    compiled float64 sums and the second value returned holds the rescaled outlets' energies, measured
    while rescaling; otherwise it is empty.
    """
    audio_outs = [k for k in outs if k not in catalog.CONTROL_OUTLETS]
    if not audio_outs:
        return outs, {}
    if not fast or any(x.requires_grad for x in (*audio.values(), *outs.values())):
        return _normalize_torch(audio, outs, audio_outs), {}
    e_in = sum(known[k] if k in known else _fast_energy(audio[k]) for k in catalog.SIGNAL_INLETS if k in audio)
    taken = {x.untyped_storage().data_ptr() for x in audio.values()}
    if len(audio_outs) == 1 and _in_place_ok(outs[audio_outs[0]], taken):
        # The usual case: one kernel measures, rescales and re-measures each clip while it is in cache.
        out = outs[audio_outs[0]]
        flat, offsets = _flat_rows(out)
        return outs, {audio_outs[0]: _stereo(_normalize_kernel(flat, offsets, out.shape[-1], e_in.numpy()))}
    e_out = sum(_fast_energy(outs[k]) for k in audio_outs)
    scale = torch.sqrt((e_in + EPS) / (e_out + EPS)).float()  # [n]; as _normalize_kernel computes it
    energies = {}
    for k in audio_outs:  # in place, unless the memory is also an input, another outlet or overlapping
        storage = outs[k].untyped_storage().data_ptr()
        if _in_place_ok(outs[k], taken):
            flat, offsets = _flat_rows(outs[k])
            energies[k] = _stereo(_scale_kernel(flat, offsets, outs[k].shape[-1], scale.numpy()))
        else:
            outs[k] = outs[k] * scale[:, None, None]
            energies[k] = _fast_energy(outs[k])
        taken.add(storage)
    return outs, energies


def _in_place_ok(x: Tensor, taken: set) -> bool:
    """Whether ``x`` may be rescaled in place: contiguous (no overlapping rows), and its memory is not in
    ``taken`` (an input's, or an outlet's already rescaled)."""
    return x.is_contiguous() and x.untyped_storage().data_ptr() not in taken


def _normalize_torch(audio: Dict[str, Tensor], outs: Dict[str, Tensor], audio_outs: List[str]) -> Dict[str, Tensor]:
    """:func:`_normalize_energy` by torch operations (differentiable mode, CUDA)."""
    e_in = sum(_energy(audio[k]) for k in catalog.SIGNAL_INLETS if k in audio)
    e_out = sum(_energy(outs[k]) for k in audio_outs)
    scale = torch.sqrt((e_in + EPS) / (e_out + EPS))[:, None, None]
    if torch.is_grad_enabled() and any(v.requires_grad for v in outs.values()):
        return {k: v * scale if k in audio_outs else v for k, v in outs.items()}
    taken = {x.untyped_storage().data_ptr() for x in audio.values()}
    for k in audio_outs:  # in place, unless the memory is also an input, another outlet or overlapping
        storage = outs[k].untyped_storage().data_ptr()
        if storage in taken or not outs[k].is_contiguous():
            outs[k] = outs[k] * scale
        else:
            outs[k].mul_(scale)
        taken.add(storage)
    return outs


def _equal_channels(x: Tensor) -> bool:
    """Whether every clip of ``x`` ``[n, 2, T]`` has two equal channels (a broadcast one has)."""
    return x.shape[1] == 2 and (x.stride(1) == 0 or torch.equal(x[:, 0], x[:, 1]))


def _energy(x: Tensor) -> Tensor:
    """Sum of squares per example of ``[n, C, T]`` as stereo: a mono clip counts as its two equal channels.

    The same bits whatever else shares the batch, so that a synthesized example does not depend on the
    batch size: a group runs in mono only when all its clips have equal channels, so one clip is summed
    as ``[1, T]`` or as ``[2, T]`` depending on the others (channels are summed one by one, and a
    mono channel twice), and a reduction to a single number is split over threads in an order that
    depends on their number (a second row keeps every row summed serially).
    """
    rows = x if x.shape[0] * x.shape[1] > 1 else x.expand(2, -1, -1)  # a view: no copy
    per_channel = torch.linalg.vector_norm(rows, dim=-1)[:x.shape[0]].square()  # [n, C]; a norm: no temporary
    return per_channel.sum(1) if x.shape[1] == 2 else 2 * per_channel[:, 0]


# --- fast mode: compiled kernels ----------------------------------------------------
#: Samples per chunk of the energy sums. Every kernel sums a row chunk by chunk with
#: :func:`_chunk_energy`, so a row's energy has the same bits whichever kernel measured it.
_CHUNK = 4096


def _flat_rows(x: Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """``x`` ``[n, C, T]`` (CPU) as one flat float32 array over its memory and the offset ``[n, C]`` of each
    row in it, so that the kernels read contiguous rows whatever the batch and channel strides (a
    broadcast mono clip, channel stride 0, has the same row twice)."""
    if x.stride(-1) != 1:
        x = x.contiguous()
    x = x.detach()
    offsets = np.arange(x.shape[0])[:, None] * x.stride(0) + np.arange(x.shape[1]) * x.stride(1)
    return x.as_strided((int(offsets.max()) + x.shape[-1],), (1,)).numpy(), offsets


def _stereo(per_row: np.ndarray) -> Tensor:
    """Energies ``[n, C]`` of each channel -> ``[n]`` as stereo: a mono clip counts as two equal channels."""
    e = torch.from_numpy(per_row)
    return e[:, 0] + e[:, 1] if e.shape[1] == 2 else 2 * e[:, 0]


def _fast_energy(x: Tensor) -> Tensor:
    """:func:`_energy` in fast mode, float64 ``[n]``: each row summed on its own, in one fixed order."""
    flat, offsets = _flat_rows(x)
    return _stereo(_energy_kernel(flat, offsets, x.shape[-1]))


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _chunk_energy(chunk):  # pragma: no cover - compiled
    """Sum of squares of a float32 chunk, in float64 (reassociated: it vectorizes)."""
    total = 0.0
    for i in range(chunk.size):
        v = np.float64(chunk[i])
        total += v * v
    return total


@numba.njit(cache=True, nogil=True)
def _row_energy(row):  # pragma: no cover - compiled
    """Sum of squares of a float32 row, in float64, chunk by chunk."""
    total = 0.0
    for start in range(0, row.size, _CHUNK):
        total += _chunk_energy(row[start:start + _CHUNK])
    return total


@numba.njit(cache=True, nogil=True)
def _scale_row(row, factor):  # pragma: no cover - compiled
    """Multiplies a float32 row by ``factor`` in place; returns its new :func:`_row_energy`, each chunk
    summed while it is still in cache."""
    total = 0.0
    for start in range(0, row.size, _CHUNK):
        chunk = row[start:start + _CHUNK]
        for t in range(chunk.size):
            chunk[t] *= factor
        total += _chunk_energy(chunk)
    return total


@numba.njit(cache=True, nogil=True)
def _energy_kernel(flat, offsets, length):  # pragma: no cover - compiled
    """Sum of squares ``[n, C]`` of the rows ``flat[offsets[i, c]:][:length]``."""
    out = np.empty(offsets.shape)
    for i in range(offsets.shape[0]):
        for c in range(offsets.shape[1]):
            out[i, c] = _row_energy(flat[offsets[i, c]:offsets[i, c] + length])
    return out


@numba.njit(cache=True, nogil=True)
def _scale_kernel(flat, offsets, length, scale):  # pragma: no cover - compiled
    """Multiplies the rows of item ``i`` by ``scale[i]`` (float32) in place; returns their new energies
    ``[n, C]`` as :func:`_energy_kernel` measures them."""
    out = np.empty(offsets.shape)
    for i in range(offsets.shape[0]):
        for c in range(offsets.shape[1]):
            out[i, c] = _scale_row(flat[offsets[i, c]:offsets[i, c] + length], scale[i])
    return out


@numba.njit(cache=True, nogil=True)
def _normalize_kernel(flat, offsets, length, e_in):  # pragma: no cover - compiled
    """Rescales the rows of each item ``i`` in place to the energy ``e_in[i]`` (float64), as
    :func:`_normalize_energy` does it in steps (same bits), and returns their new energies ``[n, C]``.

    Item by item: a clip's rows (1.3 MB for 3.6 s of stereo) are still in cache when the rescaling pass
    reads them again after the measuring one, so memory is read once instead of twice.
    """
    n, channels = offsets.shape
    out = np.empty(offsets.shape)
    for i in range(n):
        for c in range(channels):
            out[i, c] = _row_energy(flat[offsets[i, c]:offsets[i, c] + length])
        e_out = out[i, 0] + out[i, 1] if channels == 2 else 2 * out[i, 0]  # as _stereo
        factor = np.float32(np.sqrt((e_in[i] + EPS) / (e_out + EPS)))
        for c in range(channels):
            out[i, c] = _scale_row(flat[offsets[i, c]:offsets[i, c] + length], factor)
    return out


@numba.njit(cache=True, nogil=True)
def _modulation_kernel(flat, offsets, rows, gains, unit, lo, span, out):  # pragma: no cover - compiled
    """``out[i, c] = lo + clip(unit[i] + sum_k gains[i, k] * source[rows[i, k], c], 0, 1) * span``.

    The source group's rows are ``flat[offsets[r, c]:]``; ``rows[i, k] < 0`` ends node ``i``'s edges.
    float32 throughout, the operations in the order of :meth:`_Renderer._modulated`'s torch path
    (same bits); chunk by chunk, so the passes over a chunk stay in cache.
    """
    n, channels, length = out.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    for i in range(n):
        base = unit[i]
        for c in range(channels):
            for start in range(0, length, _CHUNK):
                chunk = out[i, c, start:start + _CHUNK]
                chunk[:] = zero
                for k in range(rows.shape[1]):
                    if rows[i, k] < 0:
                        break
                    first = offsets[rows[i, k], c] + start
                    signal, gain = flat[first:first + chunk.size], gains[i, k]
                    for t in range(chunk.size):
                        chunk[t] += signal[t] * gain
                for t in range(chunk.size):
                    u = min(max(base + chunk[t], zero), one)
                    chunk[t] = u * span + lo
