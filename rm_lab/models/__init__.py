"""Backbones (pretrained or built from config), pooling and reward heads."""
from rm_lab.models.backbone import Backbone
from rm_lab.models.pooling import pool

__all__ = ["Backbone", "pool"]
