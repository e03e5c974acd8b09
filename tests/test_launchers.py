"""The launch scripts build the command lines OpenMMLab users expect (checked without a cluster)."""

from __future__ import annotations

import os
import shlex
import subprocess

from conftest import REPO


def launch(script: str, *args: str, **env: str) -> list[str]:
    """Run ``tools/<script>`` with ``srun`` / ``python`` replaced by a printer; the words it would run.

    ``SRUN='printf %s\\n'`` prints one argument per line, so arguments with spaces survive;
    ``PYTHON=echo`` (the dist scripts quote it as one word) splits like a shell.
    """
    out = subprocess.run(
        ['bash', os.path.join(REPO, 'tools', script), *args],
        env=dict(os.environ, **env),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.splitlines() if env.get('SRUN', '').startswith('printf') else shlex.split(out)


def test_slurm_train_command() -> None:
    words = launch(
        'slurm_train.sh',
        'gpu-part',
        'litv2',
        'configs/x.py',
        'work_dirs/x',
        '--amp',
        '--cfg-options',
        'a=1 2',
        SRUN=r'printf %s\n',
        GPUS='16',
        CPUS_PER_TASK='6',
        SRUN_ARGS='--quotatype=auto --time=2:00:00',
    )
    assert words[:5] == ['-p', 'gpu-part', '--job-name=litv2', '--gres=gpu:8', '--ntasks=16']
    assert '--ntasks-per-node=8' in words and '--cpus-per-task=6' in words and '--kill-on-bad-exit=1' in words
    assert words.index('--quotatype=auto') < words.index('--time=2:00:00') < words.index('python')
    python = words.index('python')
    assert words[python + 1 :] == [
        '-u',
        os.path.join(REPO, 'tools', 'train.py'),
        'configs/x.py',
        '--work-dir=work_dirs/x',
        '--launcher=slurm',
        '--amp',
        '--cfg-options',
        'a=1 2',
    ]


def test_slurm_small_job_stays_on_one_node() -> None:
    words = launch(
        'slurm_test.sh',
        'p',
        'j',
        'configs/x.py',
        'ckpt.pth',
        '--out-metrics',
        'm.json',
        SRUN=r'printf %s\n',
        GPUS='4',
    )
    assert '--gres=gpu:4' in words and '--ntasks=4' in words and '--ntasks-per-node=4' in words
    python = words.index('python')
    assert words[python + 3 :] == ['configs/x.py', 'ckpt.pth', '--launcher=slurm', '--out-metrics', 'm.json']


def test_dist_scripts_pass_rendezvous_variables() -> None:
    words = launch(
        'dist_train.sh',
        'configs/x.py',
        '8',
        '--auto-scale-lr',
        PYTHON='echo',
        NNODES='2',
        NODE_RANK='1',
        MASTER_ADDR='10.0.0.7',
        PORT='29611',
    )
    assert words[:7] == [
        '-m',
        'torch.distributed.run',
        '--nnodes=2',
        '--node_rank=1',
        '--master_addr=10.0.0.7',
        '--nproc_per_node=8',
        '--master_port=29611',
    ]
    assert words[7:] == [
        os.path.join(REPO, 'tools', 'train.py'),
        'configs/x.py',
        '--launcher',
        'pytorch',
        '--auto-scale-lr',
    ]
    words = launch('dist_test.sh', 'configs/x.py', 'c.pth', '2', PYTHON='echo')
    assert '--nnodes=1' in words and '--master_addr=127.0.0.1' in words and '--nproc_per_node=2' in words
    assert words[-4:] == ['configs/x.py', 'c.pth', '--launcher', 'pytorch']
