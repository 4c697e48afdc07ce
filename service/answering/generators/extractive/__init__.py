"""The extractive generator (see :mod:`.generator`): the keyless default."""

from service.answering.generators.extractive.generator import ExtractiveGenerator

__all__ = ["ExtractiveGenerator"]
