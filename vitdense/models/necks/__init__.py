"""vitdense necks, registered in mmengine's root ``MODELS`` registry."""

from .vit_pyramid import ViTPyramidNeck

__all__ = ['ViTPyramidNeck']
