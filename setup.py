"""Install vitdense: ``pip install -e .`` (see the README for mmcv).

As OpenMMLab packages do, the configs, tools, demo and ``model-index.yml`` are packaged under
``vitdense/.mim`` so that ``mim`` finds them (``mim search vitdense``, ``mim download vitdense
--config NAME``, ``mim train`` / ``mim test vitdense CONFIG``): linked to the checkout for an
editable install, copied into a built wheel.
"""

import os
import os.path as osp
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup

MIM_FILES = ('configs', 'tools', 'demo', 'model-index.yml')


def _requirements(name: str) -> list[str]:
    lines = Path('requirements', name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith('#')]


def add_mim_extension() -> None:
    """Put the mim files under ``vitdense/.mim``: symbolic links when editable, copies when built."""
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    root = osp.dirname(osp.abspath(__file__))
    target = osp.join(root, 'vitdense', '.mim')
    os.makedirs(target, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(root, name), osp.join(target, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, target), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


version: dict = {}
exec(Path('vitdense/version.py').read_text(), version)

add_mim_extension()
setup(
    name='vitdense',
    version=version['__version__'],
    description='Dense-prediction backbones (LITv2, LIT, SpectFormer, SG-Former, CB-ViT) for OpenMMLab 2.0',
    long_description=Path('README.md').read_text(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['vitdense', 'vitdense.*']),
    include_package_data=True,
    package_data={'vitdense': ['.mim/model-index.yml', '.mim/*/*', '.mim/*/*/*', '.mim/*/*/*/*']},
    install_requires=_requirements('runtime.txt'),
    extras_require={'tests': _requirements('tests.txt'), 'deploy': _requirements('deploy.txt')},
)
