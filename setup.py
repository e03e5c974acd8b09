"""Install vitdense: ``pip install -e .`` (see the README for mmcv)."""

from pathlib import Path

from setuptools import find_packages, setup


def _requirements(name: str) -> list[str]:
    lines = Path('requirements', name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith('#')]


version: dict = {}
exec(Path('vitdense/version.py').read_text(), version)

setup(
    name='vitdense',
    version=version['__version__'],
    description='Dense-prediction backbones (LITv2, LIT, SpectFormer, SG-Former, CB-ViT) for OpenMMLab 2.0',
    long_description=Path('README.md').read_text(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['vitdense', 'vitdense.*']),
    install_requires=_requirements('runtime.txt'),
    extras_require={'tests': _requirements('tests.txt')},
)
