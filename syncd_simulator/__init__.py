"""A strict, deterministic SKYBIZ API simulator for the demo and the end-to-end tests.

Public names: ``Simulator`` (the aiohttp server), ``SimulatorOptions`` (its knobs),
``Dataset`` (the ground truth it serves, with mutation methods), ``RequestLog``, ``Fault``
and ``HeavyDays``.
"""

from syncd_simulator.data import Dataset, Document
from syncd_simulator.faults import Fault, HeavyDays
from syncd_simulator.options import RequestLog, SimulatorOptions
from syncd_simulator.server import Simulator

__all__ = ["Dataset", "Document", "Fault", "HeavyDays", "RequestLog", "Simulator",
           "SimulatorOptions"]
