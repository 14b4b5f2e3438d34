"""Cariflex OpenADR 2.0b VTN and VEN, and the S2 FRBC CEM service of the VEN container."""

__version__ = "0.1.0"
