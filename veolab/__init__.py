"""veolab: prompt-experiment tracking for Google's Veo 3.1 video model.

Data flows one way: experiment file -> plan -> provider -> video store -> analysis ->
tracking -> compare/report. Everything the CLI does is importable from here.
"""

__version__ = "0.1.0"
