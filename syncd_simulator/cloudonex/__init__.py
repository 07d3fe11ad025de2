"""A strict, deterministic CloudOnex API simulator for the tests, the demo and users.

Public names: ``CloudOnexSimulator`` (the aiohttp server, with mutation and test hooks),
``CloudOnexOptions`` (its knobs and quirks), ``Drift``, ``Fault`` and ``CloudOnexRequest``
(one entry of its request log); ``RESOURCES`` lists the ten resources and their fields.
"""

from syncd_simulator.cloudonex.faults import Fault
from syncd_simulator.cloudonex.options import CloudOnexOptions, CloudOnexRequest, Drift
from syncd_simulator.cloudonex.resources import RESOURCES
from syncd_simulator.cloudonex.server import CloudOnexSimulator

__all__ = ["RESOURCES", "CloudOnexOptions", "CloudOnexRequest", "CloudOnexSimulator", "Drift",
           "Fault"]
