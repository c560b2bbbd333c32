"""The per-channel mean and standard deviation of ImageNet's RGB pixels (0..1): seglab normalises every image with
them (core/data/transforms.py), and a network whose weights expect other scaling converts from them."""

from __future__ import annotations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
