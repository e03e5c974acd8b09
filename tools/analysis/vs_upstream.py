"""Render records of vitdense's models timed next to upstream's model code as tables.

The records come from a harness that runs upstream's model code (so it is not part of this
repository) and vitdense's model in one process, one JSON line per case: ``arch``, ``variant``
(``up``: upstream eager, ``up_c``: upstream compiled, ``vd``: vitdense eager, ``vd_c``: vitdense
with ``--compile``'s modules compiled without CUDA graphs, as ``--compile`` was before it replayed
them (for a dense backbone: compiled at its one static size), ``vd_g``: the same replaying CUDA
graphs, as ``--compile`` now gives a classifier, ``vd_cd``: the dense backbone compiled with the
images' height and width dynamic, as ``--compile`` runs a detector once its input sizes vary),
``img_s``, ``mem_gib``, ``img_s_windows`` (the img/s of each timed window, where the case was
timed in several; ``img_s`` is their median), ``run`` (the call), ``device``, ``date``, ``batch``,
``shape``, ``dtype``, ``path`` where the case forced one of a module's code paths (shown with the
variant), and ``error`` for a case that failed. Each record's ``harness`` and ``code`` fields say
what the step holds and which code ran. ``task`` is ``cls`` (``configs/imagenet``'s classifier;
the default) or ``dense`` (the dense backbone alone). Every row's speed is a ratio against the
first ``up`` record of the same run, task and arch; a run without one gets no ratio. ``--tag``
names the Markdown section rewritten, so that classifiers and dense backbones get sections of
their own.

Example:
    python tools/analysis/vs_upstream.py --update docs/benchmarks.md \
        --records docs/measurements/2026-12-03_h200_cls_vs_upstream.jsonl \
        docs/measurements/2026-12-04_h200_cls_vs_upstream.jsonl
    python tools/analysis/vs_upstream.py --update docs/benchmarks.md --tag vs_upstream_dense \
        --records docs/measurements/2026-12-04_h200_dense_vs_upstream.jsonl
"""

from __future__ import annotations

import argparse

from vitdense.utils.analysis import read_jsonl, rewrite_generated

VARIANTS = {
    'up': 'upstream, eager',
    'up_c': 'upstream, compiled',
    'vd': 'vitdense, eager',
    'vd_c': 'vitdense, compiled without CUDA graphs',
    'vd_g': 'vitdense, --compile (CUDA graphs)',
    'vd_cd': 'vitdense, --compile (sizes dynamic)',
}


#: What a record's ``task`` times: the classifier at 224 (``cls``) or the dense backbone (``dense``).
TASKS = {'cls': 'classifier', 'dense': 'backbone'}


def render(records: list[dict]) -> str:
    """One table per run and task: each row's img/s against upstream's eager img/s there."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        runs.setdefault((r['run'], r.get('task', 'cls')), []).append(r)
    blocks = []
    for (run, task), rows in runs.items():
        first = rows[0]
        base = {}
        for r in rows:
            if r['variant'] == 'up' and 'img_s' in r:
                base.setdefault(r['arch'], r['img_s'])
        shape = 'x'.join(map(str, first['shape']))
        windows = any('img_s_windows' in r for r in rows)  # a run timed in several windows shows them
        lines = [
            f'**train, {TASKS[task]}, {shape}, batch {first["batch"]}, {first["dtype"]}** '
            f'({first["device"]}, {first["date"]}, run {run}; code: {first["code"]})',
            '',
            '| model | variant | img/s | vs upstream eager | peak memory (GiB) |'
            + (' timed windows (img/s) |' if windows else ''),
            '|---|---|---:|---:|---:|' + ('---|' if windows else ''),
        ]
        for r in rows:
            variant = VARIANTS.get(r['variant'], r['variant'])
            if r.get('path'):
                variant += f' ({r["path"]})'
            if 'error' in r:
                error = ' '.join(r['error'].split()).replace('|', '\\|')
                lines.append(f'| {r["arch"]} | {variant} | failed: {error} | | |' + (' |' if windows else ''))
                continue
            ratio = f'{r["img_s"] / base[r["arch"]]:.2f}x' if r['arch'] in base else ''
            spread = ' / '.join(f'{w:.1f}' for w in r.get('img_s_windows', []))
            lines.append(
                f'| {r["arch"]} | {variant} | {r["img_s"]:.1f} | {ratio} | {r["mem_gib"]:.2f} |'
                + (f' {spread} |' if windows else '')
            )
        blocks.append('\n'.join(lines))
    return '\n\n'.join(blocks)


def main() -> None:
    """Rewrite a section of a Markdown file (``--tag``, ``vs_upstream`` by default) from records."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--update', required=True, help='Markdown file whose generated section is rewritten')
    parser.add_argument('--records', nargs='+', required=True, help='JSON-lines files of the harness')
    parser.add_argument(
        '--tag', default='vs_upstream', help='the section: <!-- TAG:begin --> ... <!-- TAG:end -->'
    )
    args = parser.parse_args()
    records = read_jsonl(args.records)
    rewrite_generated(args.update, args.tag, 'tools/analysis/vs_upstream.py', args.records, render(records))
    print(f'updated {args.update} from {len(records)} records')


if __name__ == '__main__':
    main()
