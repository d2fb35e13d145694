"""The ``graphfx`` command line. Thin: parse, call the library, print with rich.

Every user error (a :class:`~graphfx.errors.GraphFXError`) becomes one line
on stderr and exit code 2.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from datetime import timedelta

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from graphfx import catalog
from graphfx.errors import GraphFXError
from graphfx.outputs import check_output_dir, check_output_file

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def fail(message) -> None:
    """Prints one red line on stderr (the message taken literally, not as markup) and exits with code 2."""
    err_console.print(f"[red]error:[/red] {escape(str(message))}", highlight=False)
    sys.exit(2)


def user_errors(fn):
    """Turns library errors into one red line and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GraphFXError as err:
            fail(err)
        except MemoryError:
            fail("not enough memory for this input")
        except OSError as err:  # a disk that fills up or goes away mid-command
            fail(f"{str(err.filename) + ': ' if err.filename else ''}{err.strerror or err}")
        except RuntimeError as err:
            if "can't allocate memory" not in str(err) and "out of memory" not in str(err):
                raise
            fail("not enough memory for this input")

    return wrapper


def warn(message) -> None:
    """Prints one yellow warning line on stdout (the message taken literally); the command goes on."""
    console.print(f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False, soft_wrap=True)


class Bars:
    """Progress bars with an ETA, one per named piece of work, fed by the library's progress callbacks.

    The ETA is the work left at the mean speed since the bar's first update (:meth:`show` puts a bar up
    before that, while a job warms up). A finished piece of work leaves one line in place of its bar. A
    terminal shows the bars; a log file or a pipe, where bars cannot redraw, gets that line every ``every``
    seconds too. A context manager.
    """

    def __init__(self, every: float = 30.0):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[unit]}"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[eta]}"), TextColumn("{task.fields[note]}"), console=console)
        self.work = {}  # name -> {"id", "start", "base": (time, done) of the first update, "shown", "finished"}
        self.every = every

    def show(self, name: str, done: int, total: int, unit: str) -> None:
        """Puts up the bar of ``name`` (with nothing to do, none)."""
        if not total or name in self.work:
            return
        if console.is_terminal and not self.progress.live.is_started:
            self.progress.start()
        task_id = self.progress.add_task(escape(name), completed=done, total=total, unit=unit, eta="", note="")
        now = time.monotonic()
        self.work[name] = {"id": task_id, "start": now, "base": None, "shown": now, "finished": False}

    def update(self, name: str, done: int, total: int, unit: str, note: str = "") -> None:
        self.show(name, done, total, unit)
        work, now = self.work.get(name), time.monotonic()
        if work is None or work["finished"]:
            return
        work["base"] = work["base"] or (now, done)
        speed = (done - work["base"][1]) / max(now - work["base"][0], 1e-9)
        eta = f"eta {_duration((total - done) / speed)}" if speed > 0 and done < total else ""
        self.progress.update(work["id"], completed=done, total=total, eta=eta, note=escape(note))
        if done >= total or (not console.is_terminal and now - work["shown"] >= self.every):
            work["shown"], work["finished"] = now, done >= total
            if work["finished"]:
                self.progress.remove_task(work["id"])
            console.print(f"{escape(name)}: {done}/{total} {unit}, {_duration(now - work['start'])} elapsed"
                          + "".join(f", {escape(text)}" for text in (eta, note) if text), highlight=False,
                          soft_wrap=True)

    def print(self, text: str) -> None:
        """Prints a line (rich markup) above the bars."""
        console.print(text, highlight=False, soft_wrap=True)

    def __enter__(self) -> "Bars":
        return self

    def __exit__(self, *exc) -> None:
        if self.progress.live.is_started:
            self.progress.stop()


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class OneLineErrors(click.Group):
    """A group whose usage errors (a bad option value, a missing argument) are one line, like the others."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as err:
            raise _one_line(err) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            raise _one_line(err) from None


def _one_line(err: click.UsageError) -> click.UsageError:
    if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):  # bare `graphfx`: the help it asks for
        return err
    command = err.ctx.command_path if err.ctx is not None else "graphfx"
    return click.UsageError(f"{err.format_message()} (see {command} --help)")  # no context: no usage lines


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="graphfx")
def main():
    """graphfx: audio processing graphs — render, synthesize, and estimate them from audio."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@click.argument("name", required=False)
def processors(as_json, name):
    """List the processor catalog (or one NAME): ports and parameters."""
    if name is not None and name not in catalog.SPECS:
        fail(f"unknown processor type {name!r}; see `graphfx processors`")
    if as_json:
        click.echo(json.dumps(catalog.to_dict(name), indent=1))
        return
    table = Table(title="graphfx processor catalog", show_lines=False)
    for col in ("type", "family", "inlets", "outlets", "parameters (unit, range, default)"):
        table.add_column(col, overflow="fold")
    for spec in ([catalog.get(name)] if name else catalog.SPECS.values()):
        inlets = ", ".join(f"{i}*" if i in spec.required else i for i in spec.inlets)
        params = "\n".join(
            f"{p.name} {p.unit} [{p.min:g}, {p.max:g}]{' log' if p.scale == 'log' else ''} = {p.default:g}"
            for p in spec.params)
        table.add_row(f"[bold]{spec.name}[/bold]", spec.family, inlets or "-", ", ".join(spec.outlets) or "-",
                      params or "-")
    console.print(table)
    console.print("* required inlet; the other inlets are optional (modulation, sidechain).")


@main.command()
@click.argument("graph_file", type=click.Path(dir_okay=False))
@user_errors
def validate(graph_file):
    """Check GRAPH_FILE against every rule; one line per problem, exit 2 if invalid."""
    from graphfx.graph import AudioGraph

    graph = AudioGraph.load(graph_file).validate()
    console.print(f"[green]valid[/green]: {escape(graph_file)} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)")


@main.command()
@click.argument("graph_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Image file (.png, .svg, .pdf).")
@click.option("--canonical", is_flag=True, help="Draw the canonical (LTI-reordered) form.")
@user_errors
def draw(graph_file, output, canonical):
    """Draw GRAPH_FILE as a picture: nodes as [type], ports on edges."""
    from graphfx.graph import AudioGraph

    from graphfx.draw import check_format, draw as draw_graph

    check_output_file(output)
    check_format(output)
    graph = AudioGraph.load(graph_file).validate()
    if canonical:
        from graphfx.canonical import canonical_form

        graph = canonical_form(graph)
    try:
        draw_graph(graph, output, title=graph_file)
    except ImportError as err:
        fail(err)
    except (OSError, ValueError) as err:
        fail(f"cannot write {output}: {err}")
    console.print(f"wrote {escape(output)}")


@main.command()
@click.argument("graph_file", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "inputs", multiple=True, metavar="[TRACK=]FILE",
              help="Dry audio. Drum graphs take one per source: --input kick=k.wav --input snare=s.wav ... "
                   "Without it: a clip of the built-in synthetic singer or drum kit.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Rendered stereo file.")
@click.option("--no-resample", is_flag=True, help="Fail on a sample-rate mismatch instead of resampling.")
@click.option("--no-normalize", is_flag=True, help="Turn off per-processor energy normalization.")
@user_errors
def render(graph_file, inputs, output, no_resample, no_normalize):
    """Render GRAPH_FILE on dry audio; mono input is promoted to stereo."""
    import torch

    from graphfx.audio import audio_info, load_audio, output_format, save_audio
    from graphfx.errors import AudioError
    from graphfx.graph import AudioGraph
    from graphfx.memory import check_memory
    from graphfx.renderer import memory_needed, render as render_graph

    check_output_file(output)
    output_format(output)
    graph = AudioGraph.load(graph_file).validate()
    tracks = {} if inputs else _builtin_clip(graph)
    given = [item.split("=", 1) if "=" in item else ("in", item) for item in inputs]
    infos = [audio_info(path) for _, path in given]  # every file checked, and the memory, before any is read
    longest = max((i.frames * graph.sample_rate // i.sample_rate for i in infos), default=0)
    check_memory(memory_needed(graph, longest), f"rendering {longest / graph.sample_rate:.0f} s of audio",
                 "render a shorter excerpt (a graph renders a whole clip at once)")
    for name, path in given:
        if name in tracks:
            raise AudioError(f"track {name!r} given twice")
        audio, rate = load_audio(path, graph.sample_rate, resample=not no_resample)
        tracks[name] = audio
    if set(tracks) == {"in"} and graph.is_drum_graph():
        raise AudioError("this is a drum graph: give one --input TRACK=FILE per source "
                         f"({', '.join(n.type for n in graph.nodes if n.spec.terminal and n.type != 'out')})")
    length = max(a.shape[-1] for a in tracks.values())
    batch = {k: torch.nn.functional.pad(a, (0, length - a.shape[-1]))[None] for k, a in tracks.items()}
    wet = render_graph(graph, batch, sample_rate=graph.sample_rate, normalize=not no_normalize)[0]
    save_audio(output, wet, graph.sample_rate)
    peak = float(wet.abs().max())
    console.print(f"wrote {escape(output)} ({length / graph.sample_rate:.2f} s, stereo, {graph.sample_rate} Hz, "
                  f"peak {peak:.2f}{' — above full scale, stored as float' if peak > 1 else ''})")


def _builtin_clip(graph, seconds: float = 3.63) -> dict:
    """A clip of the built-in source with every input track the graph has."""
    import torch

    from graphfx.sources import make_source

    task = "drums" if graph.is_drum_graph() else "singing"
    source = make_source(task, sample_rate=graph.sample_rate)
    clip = source.clip("train", 0, int(seconds * graph.sample_rate))
    length = next(iter(clip.values())).shape[-1]
    wanted = [n.type for n in graph.nodes if n.type in source.tracks]
    # A groove may leave a track silent; the graph still gets (silent) audio for it.
    return {t: torch.from_numpy(clip[t]) if t in clip else torch.zeros(1, length) for t in wanted}


@main.command()
@click.option("--task", required=True, metavar="singing|drums", help="Singing (one input) or drums (six tracks).")
@click.option("--num", "num", required=True, type=click.IntRange(min=1), help="Examples in the train split.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Dataset directory (resumed if it exists).")
@click.option("--num-val", type=click.IntRange(min=0), default=None,
              help="Examples in each of seen and unseen [default: NUM // 10, at least 8 but at most NUM].")
@click.option("--sources", type=click.Path(), default=None,
              help="Folder of dry recordings [default: built-in synthetic].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Dataset seed.")
@click.option("--shard", default="0/1", show_default=True, metavar="I/N",
              help="Write only the shards numbered I modulo N (numbered across train, seen, unseen).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes, one thread each.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Clip length [default: 3.63, i.e. the paper's 160000 samples at 44.1 kHz].")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Clip length in samples (instead of --seconds).")
@click.option("--sample-rate", type=click.IntRange(8000, 384000), default=44100, show_default=True, help="Hz.")
@click.option("--shard-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Examples per shard.")
@click.option("--lazy", is_flag=True, help="Store graphs and seeds only; audio is synthesized when loaded.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Prototype-graph configuration (JSON of PrototypeConfig: motifs, sizes).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Examples synthesized together (the data do not depend on it).")
@user_errors
def generate(task, num, out, num_val, sources, seed, shard, workers, seconds, samples, sample_rate, shard_size, lazy,
             config_file, batch_size):
    """Synthesize a graph-reference dataset into OUT: sharded, deterministic, resumable."""
    from graphfx.synth.generate import (DatasetSpec, generate as generate_dataset, parse_shard, seconds_to_samples,
                                        validation_warning)
    from graphfx.synth.prototype import PrototypeConfig

    part = parse_shard(shard)
    check_output_dir(out)
    if samples is not None and seconds is not None:
        raise GraphFXError("give --seconds or --samples, not both")
    if samples is None and sample_rate > 0:
        samples = seconds_to_samples(seconds, sample_rate)
    config = PrototypeConfig.load(config_file) if config_file else PrototypeConfig()
    spec = DatasetSpec(task, num, num_val, seed=seed, sample_rate=sample_rate, num_samples=samples,
                       shard_size=shard_size, lazy=lazy, sources=sources, prototype=config)
    if validation_warning(spec):
        warn(validation_warning(spec))
    name = f"{spec.task} {shard}" if part != (0, 1) else spec.task
    with Bars() as bars:  # the bar appears once the arguments are checked and there is work
        report = generate_dataset(out, spec, shard=part, workers=workers, batch_size=batch_size,
                                  progress=lambda done, total: bars.update(name, done, total, "pairs"))
    speed = f", {report.pairs_per_second:.1f} pairs/s" if report.examples else ""
    console.print(f"{escape(report.out)}: wrote {report.written} shard(s), {report.examples} examples in "
                  f"{report.seconds:.1f} s{speed}; {report.skipped} of {report.shards} shard(s) were already complete",
                  soft_wrap=True)


@main.command()
@click.argument("directory", type=click.Path())
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), default=None,
              help="Also draw histograms to this image (.png, .svg, .pdf; needs matplotlib).")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@user_errors
def stats(directory, plot_file, as_json):
    """Graph statistics of dataset DIRECTORY (Fig. 2a), beside PCQM4Mv2."""
    from graphfx.stats import PCQM4MV2, dataset_stats, plot

    check_output_file(plot_file, "--plot")
    if plot_file:
        from graphfx.draw import check_format

        check_format(plot_file, "--plot")
    result = dataset_stats(directory)
    if as_json:
        click.echo(json.dumps({k: v.to_dict() for k, v in result.items()} | {"PCQM4Mv2": PCQM4MV2.to_dict()},
                              indent=1, default=str))
    else:
        table = Table(title=f"graph statistics: {escape(directory)}")
        for col in ("split", "graphs", "nodes/graph", "edges/graph", "mean degree", "density"):
            table.add_column(col, justify="left" if col == "split" else "right")

        def pm(mean, std):
            return f"{mean:.1f}" if std != std else f"{mean:.1f} ± {std:.1f}"

        for s in [*result.values(), PCQM4MV2]:
            graphs = f"~{s.num_graphs / 1e6:.1f}M" if s.quoted else str(s.num_graphs)
            table.add_row(s.name, graphs, pm(s.nodes_mean, s.nodes_std), pm(s.edges_mean, s.edges_std),
                          f"{s.degree:.2f}{'*' if s.quoted else ''}", f"{s.density:.3f}{'*' if s.quoted else ''}")
        console.print(table)
        console.print("PCQM4Mv2 row quoted from OGB-LSC (Hu et al. 2021), not measured; * derived from its quoted "
                      "means. Degree 2E/N and density 2E/(N(N-1)) are per-graph means.")
        types = Table(title="nodes per type (total, per graph)")
        types.add_column("type")
        for split in result:
            types.add_column(split, justify="right")
        for name in catalog.NODE_TYPES:
            counts = [result[s].node_types.get(name, 0) for s in result]
            if any(counts):
                types.add_row(name, *(f"{c} ({c / max(1, result[s].num_graphs):.2f})" for s, c in zip(result, counts)))
        for kind in ("audio", "sidechain", "control"):
            types.add_row(f"[italic]{kind} edges[/italic]", *(str(result[s].edge_kinds.get(kind, 0)) for s in result))
        console.print(types)
    if plot_file:
        try:
            plot(result, plot_file, title=str(directory))
        except ImportError as err:
            raise GraphFXError(f"--plot needs matplotlib: {err}") from None
        except (OSError, ValueError) as err:
            raise GraphFXError(f"cannot write {plot_file}: {str(err).splitlines()[0]}") from None
        console.print(f"wrote {escape(plot_file)}")


#: What each --preset is (graphfx.presets).
PRESET_HELP = ("Model, data and training sizes. smoke: tiny, trains in seconds, for tests (it learns little); "
               "cpu: about an hour per system on 2 CPU cores; paper: the paper's sizes (Section 3), a GPU job.")


@main.command()
def decoders():
    """List every system `graphfx bench --decoder` takes: registered decoders (built in and from plugins) and
    the baselines built on them."""
    from graphfx import bench
    from graphfx.decoders import registry
    from graphfx.presets import PRESETS

    table = Table(title="systems for graphfx bench --decoder")
    table.add_column("name")
    table.add_column("--preset")
    table.add_column("what it is", overflow="fold")
    for name in registry.list_decoders():
        cls = registry.get(name)
        sizes = set(getattr(cls.Config, "PRESETS", {}) or {})
        presets = ", ".join(p for p, preset in PRESETS.items() if preset.decoder in sizes)
        table.add_row(name, presets, (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "")
    for name, text in bench.SYSTEMS.items():
        table.add_row(name, "all" if name != "prior" else "any (no training)", text)
    console.print(table)


@main.command()
@click.option("--decoder", default="tokengt", show_default=True, help="A registered decoder (`graphfx decoders`).")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="Dataset made by `graphfx generate`.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run directory: checkpoint.pt and TensorBoard logs (resumed if it has a checkpoint).")
@click.option("--preset", type=click.Choice(["smoke", "cpu", "paper"]), default="cpu", show_default=True,
              help=PRESET_HELP)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the preset's number of steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override the preset's batch size.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Override the preset's peak learning rate.")
@click.option("--no-latent", is_flag=True, help="Zero the latents (the paper's lower bound ➁).")
@click.option("--autoencoder", is_flag=True, help="Encode the true graph instead of the audio (sanity check ➀).")
@click.option("--source-conditioning", is_flag=True, help="Give the encoder the dry source too (➃).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@user_errors
def train(decoder, data_dir, out_dir, preset, steps, batch_size, lr, no_latent, autoencoder, source_conditioning,
          device):
    """Train a blind estimator on a generated dataset (resumable; DDP under torchrun)."""
    from dataclasses import replace

    from graphfx.dataformat import read_meta
    from graphfx.estimator import estimator_config
    from graphfx.presets import PRESETS, data_mismatch
    from graphfx.train import resume_step, train as run_training

    meta = read_meta(data_dir)
    check_output_dir(out_dir)
    chosen = PRESETS[preset]
    if no_latent and autoencoder:
        raise click.UsageError("--no-latent and --autoencoder exclude each other")
    latent = "zero" if no_latent else ("graph" if autoencoder else "audio")
    config = estimator_config(chosen, meta["task"], decoder, sample_rate=meta["sample_rate"], tracks=meta["tracks"],
                              latent=latent, condition_on_source=source_conditioning)
    overrides = {k: v for k, v in (("steps", steps), ("batch_size", batch_size), ("lr", lr)) if v is not None}
    train_config = replace(chosen.train, **overrides)
    leader = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 speaks
    start = resume_step(out_dir)
    if leader:
        console.print(f"training [bold]{escape(decoder)}[/bold] ({preset} preset, {train_config.steps} steps) on "
                      f"{escape(data_dir)}; watch it with: tensorboard --logdir {escape(out_dir)} --host 127.0.0.1",
                      soft_wrap=True)
        mismatch = data_mismatch(chosen, meta["sample_rate"], meta["num_samples"])
        if mismatch:
            warn(mismatch)
        if 0 < start < train_config.steps:
            console.print(f"resuming from step {start} (the checkpoint in {escape(out_dir)})", highlight=False)
    name = f"training {decoder}"

    def report(step, losses):
        bars.update(name, step, train_config.steps, "steps", f"loss {losses['loss']:.4f}")

    before = _modified(os.path.join(out_dir, "checkpoint.pt"))
    with Bars() as bars:
        if leader and start < train_config.steps:
            bars.show(name, start, train_config.steps, "steps")
        path = run_training(data_dir, out_dir, config, train_config, device=device, on_step=report)
    if leader:  # say "wrote" only of a file this run wrote
        console.print(f"wrote {escape(path)}" if _modified(path) not in (None, before) else
                      f"nothing to do: {escape(path)} has already trained {train_config.steps} steps or more")


def _modified(path):
    """The modification time of ``path`` in nanoseconds, ``None`` when there is no such file."""
    return os.stat(path).st_mtime_ns if os.path.exists(path) else None


@main.command()
@click.option("--decoder", "systems", multiple=True,
              help="A system to compare: a registered decoder, no_latent, or NAME+source (repeatable). "
                   "Default: the whole comparison.")
@click.option("--preset", type=click.Choice(["smoke", "cpu", "paper"]), default="smoke", show_default=True,
              help=PRESET_HELP)
@click.option("--task", type=click.Choice(["singing", "drums"]), default="singing", show_default=True)
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Evaluate this checkpoint instead of training (with one --decoder).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
              help="Use this dataset instead of generating the preset's.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="bench", show_default=True,
              help="Results (results.json, results.md), runs and the generated dataset.")
@user_errors
def bench(systems, preset, task, checkpoint, data_dir, out_dir):
    """Train and evaluate decoding strategies side by side (the paper's Table 2)."""
    from graphfx import bench as benchmark
    from graphfx.dataformat import read_meta
    from graphfx.presets import PRESETS, data_mismatch

    check_output_dir(out_dir)
    labels = list(systems) or benchmark.default_systems()
    if checkpoint is not None and len(labels) != 1:
        raise click.UsageError("--checkpoint evaluates one system: give exactly one --decoder")
    if data_dir is not None and checkpoint is None:  # training on data of other sizes than the preset's
        meta = read_meta(data_dir)
        mismatch = data_mismatch(PRESETS[preset], meta["sample_rate"], meta["num_samples"])
        if mismatch:
            warn(mismatch)
    steps = PRESETS[preset].train.steps
    with Bars() as bars:
        results = benchmark.run(
            labels, preset, task, out_dir, checkpoint=checkpoint, data_dir=data_dir,
            status=lambda text: bars.print(f"[dim]{escape(text)}[/dim]"),
            on_step=lambda label, step, losses: bars.update(f"{label} training", step, steps, "steps",
                                                            f"loss {losses['loss']:.3f}"),
            on_progress=lambda what, done, total: bars.update(what, done, total, "examples"))
    table = Table(title=f"{task}, {preset} preset (mean over examples ± 95% confidence half-width)")
    table.add_column("system")
    table.add_column("split")
    for column in benchmark.COLUMNS:
        table.add_column(benchmark.TITLES[column], justify="right")
    for label, splits in results["systems"].items():
        for split, metrics in splits.items():
            table.add_row(label, split, *(benchmark.cell(metrics.get(c)) for c in benchmark.COLUMNS))
    # A log file or a pipe gets the whole table rather than 80 columns of ellipses.
    (console if console.is_terminal else Console(width=200)).print(table)
    console.print(f"wrote {escape(out_dir)}/results.json and {escape(out_dir)}/results.md; "
                  f"TensorBoard: tensorboard --logdir {escape(out_dir)}/runs --host 127.0.0.1", soft_wrap=True)


@main.command()
@click.argument("wet", metavar="[CKPT.pt] WET", type=click.Path(dir_okay=False))
@click.argument("old_form_wet", metavar="", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Folder of the results (the old form: the graph file).")
@click.option("--dry", "dry_file", type=click.Path(dir_okay=False), default=None,
              help="The dry recording of the same clip: candidates are rendered and compared, the best refined.")
@click.option("--task", type=click.Choice(["singing", "drums"]), default=None, help="Which shipped model [singing].")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="A trained checkpoint instead of the shipped model.")
@click.option("--candidates", type=click.IntRange(min=1), default=None, help="Hypotheses considered [64].")
@click.option("--refine", "refine_steps", type=click.IntRange(min=0), default=None,
              help="Refinement steps with --dry [150; 0: none].")
@click.option("--match-level", is_flag=True,
              help="With --dry: compare at equal loudness (WET was normalized or its level changed after processing).")
@click.option("--picture", type=click.Path(dir_okay=False), default=None,
              help="Old form only: also draw the graph (PNG, SVG ...).")
@click.option("--unconstrained", is_flag=True, help="Old form only: plain greedy decoding, may be invalid.")
@user_errors
def estimate(wet, old_form_wet, output, dry_file, task, checkpoint, candidates, refine_steps, match_level, picture,
             unconstrained):
    """Estimate the processing graph of WET (the processed recording) into the folder -o OUT.

    OUT gets graph.json, graph.png and report.json; with --dry also estimate.wav (the dry recording rendered
    through the graph) and reference.wav (WET at the model's rate). Without --checkpoint the model shipped
    for --task is used. The old form `estimate CKPT.pt WET -o GRAPH.json [--picture P]` writes the plain
    greedy estimate to one file.
    """
    if old_form_wet is None:
        if picture is not None or unconstrained:
            raise click.UsageError("--picture and --unconstrained belong to the old form `estimate CKPT.pt WET -o "
                                   "GRAPH.json`; the new form always draws OUT/graph.png")
        return _estimate_folder(wet, output, dry_file, task or "singing", checkpoint, candidates, refine_steps,
                                match_level)
    if not wet.endswith(".pt"):
        raise click.UsageError("give one recording: estimate WET -o OUT (the old form takes a .pt checkpoint first)")
    if any(v is not None for v in (task, checkpoint, candidates, refine_steps)) or match_level:
        raise click.UsageError("--task, --checkpoint, --candidates, --refine and --match-level need the new form: "
                               "estimate WET -o OUT")
    _estimate_one_file(wet, old_form_wet, output, dry_file, picture, unconstrained)


def _estimate_folder(audio_file, out, dry_file, task, checkpoint, candidates, refine_steps, match_level):
    """`graphfx estimate WET -o OUT`: search and refinement, results in a folder."""
    from graphfx.audio import load_audio
    from graphfx.estimate import estimate as estimate_graph

    check_output_dir(out, "-o")
    audio, rate = load_audio(audio_file)
    dry = load_audio(dry_file, rate)[0] if dry_file is not None else None
    options = {k: v for k, v in (("candidates", candidates), ("refine", refine_steps)) if v is not None}
    with Bars() as bars:
        graph, report = estimate_graph(
            audio, rate, dry, task=task, checkpoint=checkpoint, out=out, match_level=match_level, **options,
            progress=lambda step, steps, loss: bars.update("refining", step, steps, "steps", f"MSS {loss:.3f}"))
    found, stages = report["candidates"], report["stages"]
    windows = report["input"]["windows"]
    console.print(f"model: {escape(str(report['model']['checkpoint']))}; analysed {len(windows)} window(s) of "
                  f"{report['input']['window_seconds']:.2f} s; {found['distinct']} distinct of {found['considered']} "
                  f"candidates, ranked by {found['ranked_by']}", highlight=False, soft_wrap=True)
    if "before" in stages["refine"]:
        console.print(f"MSS: greedy {stages['greedy']['mss']:.3f}, search {stages['search']['mss']:.3f}, "
                      f"refined {stages['refine']['after']:.3f}", highlight=False)
    kinds = ", ".join(n.type for n in graph.nodes if not n.spec.terminal) or "no processors"
    console.print(f"wrote {escape(out)}/ ({', '.join(report['files'])}): {len(graph.nodes)} nodes, "
                  f"{len(graph.edges)} edges ({kinds})", highlight=False, soft_wrap=True)


def _estimate_one_file(checkpoint, audio_file, output, dry_file, picture, unconstrained):
    """The old form, `graphfx estimate CKPT.pt WET -o GRAPH.json`: the plain greedy estimate in one file."""
    from graphfx.estimate import estimate_recording
    from graphfx.estimator import load_estimator

    check_output_file(output)  # fail before the model runs, not after
    check_output_file(picture, "--picture")
    if picture is not None:
        from graphfx.draw import check_format

        check_format(picture, "--picture")
    result = estimate_recording(load_estimator(checkpoint), audio_file, dry_file, constrained=not unconstrained)
    graph = result.graph
    if result.windows > 1:
        console.print(f"analysed {result.windows} windows of {result.window_seconds:.2f} s of the "
                      f"{result.seconds:.1f} s recording", highlight=False)
    problem = None
    if unconstrained:
        try:
            graph.validate()
        except GraphFXError as err:
            problem = str(err)
    graph.save(output)
    kinds = ", ".join(n.type for n in graph.nodes if not n.spec.terminal) or "no processors"
    console.print(f"wrote {escape(output)}: {len(graph.nodes)} nodes, {len(graph.edges)} edges ({kinds})",
                  highlight=False)
    if problem:
        console.print(f"[yellow]the graph is invalid:[/yellow] {escape(problem)}", highlight=False)
    if picture is not None:
        from graphfx.draw import draw as draw_graph

        try:
            draw_graph(graph, picture, title=f"estimated from {os.path.basename(audio_file)}")
        except (ImportError, OSError, ValueError) as err:
            raise GraphFXError(f"cannot draw {picture}: {err}") from None
        console.print(f"wrote {escape(picture)}")


@main.command()
@click.argument("graph_file", type=click.Path(dir_okay=False))
@click.option("--to", "target", required=True, type=click.Choice(["python", "pedalboard"]),
              help="python: rebuild and render with graphfx; pedalboard: the serial part as a plugin chain.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="The script (default: standard output).")
@user_errors
def export(graph_file, target, output):
    """Write GRAPH_FILE as a Python script (graphfx, or a pedalboard chain of its serial part)."""
    from graphfx.export import to_pedalboard, to_python
    from graphfx.files import write_text_atomic
    from graphfx.graph import AudioGraph

    check_output_file(output)
    graph = AudioGraph.load(graph_file).validate()
    name = os.path.basename(graph_file)
    script, left = (to_python(graph, name), []) if target == "python" else to_pedalboard(graph, name)
    if output is None:
        click.echo(script, nl=False)
    else:
        write_text_atomic(output, script)
        console.print(f"wrote {escape(output)}")
    for line in left:
        err_console.print(f"[yellow]not exported:[/yellow] {escape(line)}", highlight=False)

if __name__ == "__main__":  # pragma: no cover
    main()
