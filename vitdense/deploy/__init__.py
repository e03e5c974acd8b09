"""Deployment: ONNX export (``pip install -e .[deploy]``); see :mod:`vitdense.deploy.onnx`."""
