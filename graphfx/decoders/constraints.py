"""Constrained decoding: logit masks under which every decoded token sequence is a valid graph.

Section 3 of Lee et al. (2023) decodes the prototype graph token by token
(``start``, the ``out`` node, then nodes in BFS order, each followed by the
edges joining it to the nodes already decoded, then ``end``). Left alone, an
autoregressive decoder can emit a graph that breaks the rules of
:mod:`graphfx.validation` (a cycle, a required inlet left open, a node with no
path to ``out`` ...). :class:`DecodingConstraints` follows one sequence and,
before each step, says which values of each head are allowed, so that the
finished sequence always builds a valid graph. It is pure Python on token
fields, independent of any model: every decoder can use it.

Rules (``n`` is the newest node, ``u`` any earlier node):

* the first token is the node ``out``; no other ``out`` ever;
* ``task="singing"``: processors and one ``in``; ``task="drums"``: processors and
  each drum source at most once; ``task="auto"``: either, never ``in`` together
  with a drum source. Tracks: none for terminals and singing graphs, a drum track
  or ``bus`` for processors of drum graphs;
* an edge joins ``n`` and some ``u`` (either direction), from an outlet of its
  source to an inlet of its destination of the same kind (control outlets
  ``lfo``/``env`` drive control inlets only), never twice, never closing a cycle
  (checked on the reachability of the graph so far);
* ``end`` only when every node reaches ``out``, every required inlet is
  connected and an input terminal exists;
* nodes may stay unconnected for a while (the ground truth does that in drum
  graphs, where a source may feed another track's sidechain before its own
  chain is decoded), but only while the graph can still be completed within
  ``max_tokens`` tokens and ``max_nodes`` nodes. A deterministic completion plan
  (:meth:`DecodingConstraints.plan`) is kept: once fewer than a safety margin
  of tokens (or nodes) would be left after it, decoding follows the plan,
  closing the graph in time;
* when the decoder would end an incomplete graph, decoding follows the plan
  from then on (:meth:`DecodingConstraints.finish`).

Head classes are those of :class:`graphfx.tokens.Tokens`: ``kind`` over
:data:`graphfx.tokens.KINDS`, ``proc_type`` over ``catalog.NODE_TYPES``,
``track`` shifted by one (0 = no track, ``k + 1`` = ``catalog.TRACKS[k]``),
``src``/``dst`` over node positions ``0 .. max_nodes - 1``, ``outlet`` over
``catalog.OUTLETS``, ``inlet`` over ``catalog.INLETS``.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence

from graphfx import catalog
from graphfx.errors import GraphFXError
from graphfx.tokens import EDGE, END, KINDS, NODE, START, Token, Tokens, tokens_to_rows

TASKS = ("auto", "singing", "drums")
#: Number of classes of the (shifted) track head.
NUM_TRACK_CLASSES = len(catalog.TRACKS) + 1
#: Decoding follows the completion plan once no more than this many spare tokens
#: (or nodes) would be left after it. In 5,000 random decodings one free token
#: cost at most 11 spare tokens and 4 spare nodes (the plan links a whole
#: unconnected subgraph through its sinks), so these margins keep the plan
#: within the limits; if they ever did not, decoding raises instead of
#: returning an invalid graph.
TOKEN_MARGIN = 24
NODE_MARGIN = 8


# --- catalog tables, as indices -----------------------------------------------------------------------------------
_OUT = [tuple(catalog.OUTLET_INDEX[p] for p in catalog.SPECS[t].outlets) for t in catalog.NODE_TYPES]
_IN = [tuple(catalog.INLET_INDEX[p] for p in catalog.SPECS[t].inlets) for t in catalog.NODE_TYPES]
_REQUIRED = [tuple(catalog.INLET_INDEX[p] for p in catalog.SPECS[t].required) for t in catalog.NODE_TYPES]
_CONTROL_OUT = frozenset(catalog.OUTLET_INDEX[p] for p in catalog.CONTROL_OUTLETS)
_CONTROL_IN = frozenset(catalog.INLET_INDEX[p] for p in catalog.CONTROL_INLETS)
_TERMINAL = [catalog.SPECS[t].terminal for t in catalog.NODE_TYPES]
_OUT_TYPE = catalog.TYPE_INDEX["out"]
_IN_TYPE = catalog.TYPE_INDEX["in"]
_SOURCES = tuple(catalog.TYPE_INDEX[s] for s in catalog.DRUM_SOURCES)
_INPUTS = frozenset((_IN_TYPE,) + _SOURCES)
_MIX = catalog.TYPE_INDEX["mix"]
_PAN = catalog.TYPE_INDEX["pan"]
_BUS = catalog.TRACKS.index("bus")
_AUDIO_OUT = [any(o not in _CONTROL_OUT for o in outs) for outs in _OUT]


def _compatible(outlet: int, inlet: int) -> bool:
    return (outlet in _CONTROL_OUT) == (inlet in _CONTROL_IN)


class _State:
    """The graph decoded so far: node types, edges, reachability as bit masks."""

    __slots__ = ("types", "tracks", "edges", "desc", "filled", "open", "length")

    def __init__(self):
        self.types: List[int] = []
        self.tracks: List[int] = []
        self.edges = set()              # (src, dst, outlet, inlet)
        self.desc: List[int] = []       # desc[v]: bit u set when v reaches u (v included)
        self.filled: List[int] = []     # filled[v]: bit i set when inlet i of v is connected
        self.open = set()               # (v, i): required inlet i of v not connected yet
        self.length = 1                 # tokens so far, the start token included

    def copy(self) -> "_State":
        s = _State.__new__(_State)
        s.types, s.tracks, s.edges = list(self.types), list(self.tracks), set(self.edges)
        s.desc, s.filled, s.open, s.length = list(self.desc), list(self.filled), set(self.open), self.length
        return s

    # --- queries ------------------------------------------------------------
    def reaches_out(self, v: int) -> bool:
        return bool(self.desc[v] & 1)

    def has_input(self) -> bool:
        return any(t in _INPUTS for t in self.types)

    def open_inlets(self, v: int) -> List[int]:
        return [i for i in _REQUIRED[self.types[v]] if not self.filled[v] >> i & 1]

    def dangling(self) -> List[int]:
        return [v for v in range(len(self.types)) if not self.desc[v] & 1]

    def dangling_sinks(self) -> List[int]:
        """Nodes not reaching ``out`` that reach no other such node: linking these links them all."""
        dangling = self.dangling()
        mask = sum(1 << v for v in dangling)
        return [v for v in dangling if self.desc[v] & mask == 1 << v]

    def complete(self) -> bool:
        return bool(self.types) and not self.open and self.has_input() and not self.dangling()

    def legal_edge(self, s: int, d: int, o: int, i: int) -> bool:
        n = len(self.types) - 1
        return (s != d and 0 <= min(s, d) and max(s, d) == n and o in _OUT[self.types[s]]
                and i in _IN[self.types[d]] and _compatible(o, i) and (s, d, o, i) not in self.edges
                and not self.desc[d] >> s & 1)

    def edges_of_newest(self) -> List[tuple]:
        """Every legal edge joining the newest node to an earlier one."""
        n = len(self.types) - 1
        found = []
        if n < 1:
            return found
        tn = self.types[n]
        for u in range(n):
            tu = self.types[u]
            if not self.desc[n] >> u & 1:  # u -> n closes no cycle
                found += [(u, n, o, i) for o in _OUT[tu] for i in _IN[tn]
                          if _compatible(o, i) and (u, n, o, i) not in self.edges]
            if not self.desc[u] >> n & 1:  # n -> u closes no cycle
                found += [(n, u, o, i) for o in _OUT[tn] for i in _IN[tu]
                          if _compatible(o, i) and (n, u, o, i) not in self.edges]
        return found

    # --- updates -------------------------------------------------------------
    def apply(self, tok: Token) -> None:
        self.length += 1
        if tok.kind == NODE:
            v = len(self.types)
            self.types.append(tok.proc_type)
            self.tracks.append(tok.track)
            self.desc.append(1 << v)
            self.filled.append(0)
            self.open.update((v, i) for i in _REQUIRED[tok.proc_type])
        elif tok.kind == EDGE:
            s, d = tok.src, tok.dst
            self.edges.add((s, d, tok.outlet, tok.inlet))
            self.filled[d] |= 1 << tok.inlet
            self.open.discard((d, tok.inlet))
            below = self.desc[d]
            for x in range(len(self.desc)):
                if self.desc[x] >> s & 1:
                    self.desc[x] |= below


class DecodingConstraints:
    """Masks for the decoding of one token sequence; the result is always a valid graph.

    Args:
        task: ``"singing"`` (``in`` + processors), ``"drums"`` (drum sources +
            processors) or ``"auto"`` (either, decided by the first input terminal).
        max_tokens: most tokens in the finished sequence, ``start`` and ``end`` included.
        max_nodes: most nodes (the node-id classes of the decoder).

    Use: before each step, read the masks (:meth:`kind_mask`, then
    :meth:`type_mask` / :meth:`track_mask` for a node or :meth:`src_mask`,
    :meth:`dst_mask`, :meth:`outlet_mask`, :meth:`inlet_mask` for an edge) or
    let :meth:`choose` pick the best allowed token from head logits, then feed
    the token with :meth:`update`. :attr:`done` is set by ``end``.
    """

    def __init__(self, task: str = "auto", *, max_tokens: int = 256, max_nodes: int = 64):
        if task not in TASKS:
            raise GraphFXError(f"unknown task {task!r}; expected one of {TASKS}")
        if max_tokens < 5:  # start, out, in, in -> out, end
            raise GraphFXError(f"max_tokens={max_tokens} is too small for any valid graph (needs 5)")
        if max_nodes < 2:
            raise GraphFXError(f"max_nodes={max_nodes} is too small for any valid graph (needs 2)")
        self.task, self.max_tokens, self.max_nodes = task, max_tokens, max_nodes
        self.done = False
        self.finishing = False
        self._state = _State()
        self._cache: Dict[str, object] = {}

    @classmethod
    def from_tokens(cls, tokens: Tokens, task: str = "auto", **kwargs) -> "DecodingConstraints":
        """Constraints after feeding a (checked) prefix; ``tokens`` starts with ``start``."""
        c = cls(task, **kwargs)
        for tok in tokens_to_rows(tokens)[1:]:
            c.update(tok)
        return c

    # --- state --------------------------------------------------------------------
    @property
    def length(self) -> int:
        """Tokens so far, the start token included."""
        return self._state.length

    @property
    def num_nodes(self) -> int:
        return len(self._state.types)

    @property
    def closing(self) -> bool:
        """Whether decoding now follows the completion plan (the limits are near)."""
        return self._forced() is not None

    def finish(self) -> None:
        """The decoder wants to stop but the graph is not valid yet: follow the completion plan from now on.

        Left to the next best kind, a decoder that has learned to stop here would grow the graph node after
        node until the limits force it closed; the plan closes it with the tokens it needs.
        """
        if not self.done and not self._state.complete():
            self.finishing = True
            self._cache.pop("forced", None)

    def plan(self) -> Optional[List[Token]]:
        """A completion of the sequence (ending with ``end``) that fits the limits, or ``None``."""
        if "plan" not in self._cache:
            self._cache["plan"] = self._make_plan()
        return self._cache["plan"]

    # --- masks ---------------------------------------------------------------------
    def kind_mask(self) -> List[bool]:
        """Allowed token kinds, over :data:`graphfx.tokens.KINDS` (``pad`` and ``start`` never)."""
        mask = [False] * len(KINDS)
        if self.done:
            return mask
        forced = self._forced()
        if forced is not None:
            mask[forced.kind] = True
            return mask
        state = self._state
        mask[NODE] = len(state.types) < self.max_nodes and any(self.type_mask())
        mask[EDGE] = bool(self._edges())
        mask[END] = state.complete()
        return mask

    def type_mask(self) -> List[bool]:
        """Allowed node types (over ``catalog.NODE_TYPES``) for a node token."""
        forced = self._forced()
        if forced is not None:
            return [forced.kind == NODE and t == forced.proc_type for t in range(len(catalog.NODE_TYPES))]
        if len(self._state.types) >= self.max_nodes:
            return [False] * len(catalog.NODE_TYPES)
        return [self._type_allowed(t) for t in range(len(catalog.NODE_TYPES))]

    def track_mask(self, proc_type: int) -> List[bool]:
        """Allowed track classes (0 = none, ``k + 1`` = ``catalog.TRACKS[k]``) for a node of this type."""
        forced = self._forced()
        if forced is not None:
            return [c == forced.track + 1 for c in range(NUM_TRACK_CLASSES)]
        allowed = self._tracks_allowed(proc_type)
        return [c in allowed for c in range(NUM_TRACK_CLASSES)]

    def src_mask(self) -> List[bool]:
        """Allowed source nodes of an edge token (over ``max_nodes`` positions)."""
        allowed = {e[0] for e in self._edges()}
        return [v in allowed for v in range(self.max_nodes)]

    def dst_mask(self, src: int) -> List[bool]:
        allowed = {e[1] for e in self._edges() if e[0] == src}
        return [v in allowed for v in range(self.max_nodes)]

    def outlet_mask(self, src: int, dst: int) -> List[bool]:
        allowed = {e[2] for e in self._edges() if e[:2] == (src, dst)}
        return [o in allowed for o in range(len(catalog.OUTLETS))]

    def inlet_mask(self, src: int, dst: int, outlet: int) -> List[bool]:
        allowed = {e[3] for e in self._edges() if e[:3] == (src, dst, outlet)}
        return [i in allowed for i in range(len(catalog.INLETS))]

    # --- choosing and feeding --------------------------------------------------------
    def allows(self, tok: Token) -> bool:
        """Whether the token may come next."""
        tok = Token(*tok)
        if self.done:
            return False
        forced = self._forced()
        if forced is not None:
            return tok.kind == forced.kind and (tok.kind == END or _fields(tok) == _fields(forced))
        state = self._state
        if tok.kind == NODE:
            n = len(state.types)
            return (tok.src == tok.dst == n and 0 <= tok.proc_type < len(catalog.NODE_TYPES)
                    and n < self.max_nodes and self._type_allowed(tok.proc_type)
                    and tok.track + 1 in self._tracks_allowed(tok.proc_type))
        if tok.kind == EDGE:
            return state.legal_edge(tok.src, tok.dst, tok.outlet, tok.inlet) and max(tok.src, tok.dst) < self.max_nodes
        if tok.kind == END:
            return state.complete()
        return False

    def update(self, tok: Token, check: bool = True) -> None:
        """Feeds the next token; raises :class:`GraphFXError` if it is not allowed (``check``)."""
        tok = Token(*tok)
        if check and not self.allows(tok):
            raise GraphFXError(f"token {tok} is not allowed after {self.length} tokens")
        if tok.kind == END:
            self.done = True
            self._state.length += 1
        elif tok.kind in (NODE, EDGE):
            self._state.apply(_normalized(tok))
        plan = self._cache.get("plan")
        self._cache = {}
        if plan and plan[0] == _normalized(tok):  # the plan of the next state is the rest of this one
            self._cache["plan"] = plan[1:]

    def choose(self, logits: Mapping[str, Sequence[float]]) -> Token:
        """The best allowed token under head logits (masked greedy, one field after another).

        Args:
            logits: per head, a sequence of scores over its classes (see the module
                docstring): ``kind``, ``proc_type``, ``track``, ``src``, ``dst``,
                ``outlet``, ``inlet``. A missing head counts as all zeros.
        """
        if logits.get("kind") is not None and _argmax(logits["kind"]) == END:
            self.finish()
        kind = _masked_argmax(logits.get("kind"), self.kind_mask())
        if kind == NODE:
            n = len(self._state.types)
            proc_type = _masked_argmax(logits.get("proc_type"), self.type_mask())
            track = _masked_argmax(logits.get("track"), self.track_mask(proc_type)) - 1
            return Token(NODE, n, n, proc_type, track=track)
        if kind == EDGE:
            src = _masked_argmax(logits.get("src"), self.src_mask())
            dst = _masked_argmax(logits.get("dst"), self.dst_mask(src))
            outlet = _masked_argmax(logits.get("outlet"), self.outlet_mask(src, dst))
            inlet = _masked_argmax(logits.get("inlet"), self.inlet_mask(src, dst, outlet))
            return Token(EDGE, src, dst, outlet=outlet, inlet=inlet)
        return Token(END)

    # --- internals --------------------------------------------------------------------
    def _edges(self) -> List[tuple]:
        if self.done:
            return []
        forced = self._forced()
        if forced is not None:
            return [(forced.src, forced.dst, forced.outlet, forced.inlet)] if forced.kind == EDGE else []
        if "edges" not in self._cache:
            self._cache["edges"] = [e for e in self._state.edges_of_newest() if max(e[:2]) < self.max_nodes]
        return self._cache["edges"]

    def _forced(self) -> Optional[Token]:
        """The plan's next token when the limits are near, else ``None``."""
        if self.done:
            return None
        if "forced" not in self._cache:
            plan = self.plan()
            if plan is None:
                raise RuntimeError(f"constrained decoding cannot complete the graph within max_tokens="
                                   f"{self.max_tokens} and max_nodes={self.max_nodes} (a bug: please report)")
            spare_tokens = self.max_tokens - self._state.length - len(plan)
            spare_nodes = self.max_nodes - len(self._state.types) - sum(t.kind == NODE for t in plan)
            near = spare_tokens <= TOKEN_MARGIN or spare_nodes <= NODE_MARGIN
            self._cache["forced"] = plan[0] if self.finishing or near else None
        return self._cache["forced"]

    def _type_allowed(self, t: int) -> bool:
        state = self._state
        if not state.types:
            return t == _OUT_TYPE
        if t == _OUT_TYPE:
            return False
        present = set(state.types)
        if t == _IN_TYPE:
            return self.task in ("singing", "auto") and not present & _INPUTS
        if t in _SOURCES:
            return self.task in ("drums", "auto") and _IN_TYPE not in present and t not in present
        return True

    def _tracks_allowed(self, t: int) -> frozenset:
        """Allowed shifted track classes for a node of type ``t``."""
        if _TERMINAL[t] or self.task == "singing":
            return frozenset({0})
        drum_tracks = frozenset(range(1, NUM_TRACK_CLASSES))
        if self.task == "drums":
            return drum_tracks
        present = set(self._state.types)
        if _IN_TYPE in present:
            return frozenset({0})
        return drum_tracks if present & set(_SOURCES) else drum_tracks | {0}

    def _plan_track(self, state: _State, t: int) -> int:
        if _TERMINAL[t] or self.task == "singing":
            return -1
        if self.task == "drums":
            return _BUS
        present = set(state.types)
        return _BUS if _IN_TYPE not in present and present & set(_SOURCES) else -1

    def _make_plan(self) -> Optional[List[Token]]:
        if self.done:
            return []
        state = self._state.copy()
        plan: List[Token] = []
        while True:
            tok = self._greedy(state)
            if state.length + 1 > self.max_tokens:
                return None
            plan.append(tok)
            if tok.kind == END:
                return plan
            if tok.kind == NODE and len(state.types) >= self.max_nodes:
                return None
            state.apply(tok)

    def _greedy(self, s: _State) -> Token:
        """The completion plan's next token for state ``s`` (deterministic, always legal)."""
        n = len(s.types) - 1
        if n < 0:
            return Token(NODE, 0, 0, _OUT_TYPE)
        edge = self._greedy_edge(s, n)
        if edge is not None:
            return Token(EDGE, edge[0], edge[1], outlet=edge[2], inlet=edge[3])
        if s.complete():
            return Token(END)
        # 5. a new node: an input terminal, a mix (or an unused drum source) filling open inlets,
        #    a mix collecting unconnected audio nodes, a pan whose control inlet collects an unconnected control source
        present = set(s.types)
        free_sources = [t for t in _SOURCES if t not in present]
        sources_ok = self.task == "drums" or (self.task == "auto" and present & set(_SOURCES) and
                                              _IN_TYPE not in present)
        if not s.has_input():
            t = free_sources[0] if self.task == "drums" else _IN_TYPE
        elif s.open:
            t = free_sources[0] if sources_ok and free_sources else _MIX
        else:
            t = _MIX if any(_AUDIO_OUT[s.types[v]] for v in s.dangling_sinks()) else _PAN
        return Token(NODE, n + 1, n + 1, t, track=self._plan_track(s, t))

    @staticmethod
    def _greedy_edge(s: _State, n: int) -> Optional[tuple]:
        """The completion plan's next edge, if the newest node ``n`` can still help."""
        tn = s.types[n]
        # 1. the newest node fills an open required inlet of an earlier node
        for v, i in sorted(s.open):
            if v < n:
                for o in _OUT[tn]:
                    if s.legal_edge(n, v, o, i):
                        return n, v, o, i
        # 2. an earlier node fills an open required inlet of the newest (unconnected nodes first, then inputs)
        open_n = s.open_inlets(n)
        if open_n:
            candidates = [u for u in s.dangling_sinks() if u != n]
            candidates += [u for u in range(n) if s.types[u] in _INPUTS] + list(range(n))
            for i in open_n:
                for u in candidates:
                    for o in _OUT[s.types[u]]:
                        if s.legal_edge(u, n, o, i):
                            return u, n, o, i
        if not s.reaches_out(n):
            # 3. the newest node reaches out through an earlier node that does
            for u in range(n):
                if s.reaches_out(u):
                    for i in _IN[s.types[u]]:
                        for o in _OUT[tn]:
                            if s.legal_edge(n, u, o, i):
                                return n, u, o, i
        else:
            # 4. unconnected earlier nodes reach out through the newest
            for v in s.dangling_sinks():
                for o in _OUT[s.types[v]]:
                    for i in _IN[tn]:
                        if s.legal_edge(v, n, o, i):
                            return v, n, o, i
        return None


# --- helpers ------------------------------------------------------------------------------------------------------

def _fields(tok: Token) -> tuple:
    if tok.kind == NODE:
        return (NODE, tok.src, tok.dst, tok.proc_type, tok.track)
    if tok.kind == EDGE:
        return (EDGE, tok.src, tok.dst, tok.outlet, tok.inlet)
    return (tok.kind,)


def _normalized(tok: Token) -> Token:
    """The token with its irrelevant fields set to -1."""
    if tok.kind == NODE:
        return Token(NODE, tok.src, tok.dst, tok.proc_type, track=tok.track)
    if tok.kind == EDGE:
        return Token(EDGE, tok.src, tok.dst, outlet=tok.outlet, inlet=tok.inlet)
    return Token(tok.kind)


def _masked_argmax(values: Optional[Sequence[float]], mask: Sequence[bool]) -> int:
    if values is None:
        values = [0.0] * len(mask)
    elif hasattr(values, "tolist"):
        values = values.tolist()
    best, best_value = -1, -math.inf
    for k, allowed in enumerate(mask):
        if allowed and (best < 0 or values[k] > best_value):
            best, best_value = k, values[k]
    if best < 0:
        raise RuntimeError("no allowed class for this head (a bug in constrained decoding)")
    return best


def choose_unconstrained(logits: Mapping[str, Sequence[float]], num_nodes: int) -> Token:
    """The argmax token of each head, unmasked (``pad``/``start`` excluded): the result may be invalid."""
    kinds = [k in (NODE, EDGE, END) for k in range(len(KINDS))]
    kind = _masked_argmax(logits.get("kind"), kinds)
    if kind == NODE:
        proc_type = _masked_argmax(logits.get("proc_type"), [True] * len(catalog.NODE_TYPES))
        track = _masked_argmax(logits.get("track"), [True] * NUM_TRACK_CLASSES) - 1
        return Token(NODE, num_nodes, num_nodes, proc_type, track=track)
    if kind == EDGE:
        src = _argmax(logits.get("src"))
        dst = _argmax(logits.get("dst"))
        return Token(EDGE, src, dst, outlet=_argmax(logits.get("outlet")), inlet=_argmax(logits.get("inlet")))
    return Token(END)


def _argmax(values) -> int:
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    return max(range(len(values)), key=values.__getitem__)


def check_sequence(tokens: Tokens, task: str = "auto", **kwargs) -> Optional[int]:
    """The position of the first token the constraints reject, or ``None`` if all are allowed."""
    seq = tokens_to_rows(tokens)
    if not seq or seq[0].kind != START:
        return 0
    c = DecodingConstraints(task, **kwargs)
    for pos, tok in enumerate(seq[1:], start=1):
        if not c.allows(tok):
            return pos
        c.update(tok, check=False)
    return None
