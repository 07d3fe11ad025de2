"""A strict, deterministic SKYBIZ API simulator for the demo and the end-to-end tests.

Public names: ``Simulator`` (the aiohttp server), ``SimulatorOptions`` (its knobs),
``Dataset`` (the ground truth it serves, with mutation methods), ``RequestLog``, ``Fault``
and ``HeavyDays``.
"""

from syncd.simulator.data import Dataset, Document
from syncd.simulator.faults import Fault, HeavyDays
from syncd.simulator.options import RequestLog, SimulatorOptions
from syncd.simulator.server import Simulator

__all__ = ["Dataset", "Document", "Fault", "HeavyDays", "RequestLog", "Simulator",
           "SimulatorOptions"]
