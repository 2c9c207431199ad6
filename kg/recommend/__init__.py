"""Recommend: the engine (validation, derivation, matching, explanation) and its typed results."""
from kg.recommend.engine import DERIVATION, Engine, Request
from kg.recommend.results import Recommendation, json_safe

__all__ = ["DERIVATION", "Engine", "Recommendation", "Request", "json_safe"]
