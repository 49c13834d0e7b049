"""Synthetic city, outbreak scenarios with ground truth, and writers for the input formats.

``generate_city`` builds the city, ``simulate`` a visit history with a hidden outbreak and its
truth, ``write_simulation`` the files that ingestion reads.
"""

from epiradar.sim.city import City, generate_city
from epiradar.sim.scenarios import SCENARIOS, Simulation, daily_visits_for, simulate
from epiradar.sim.writers import write_city, write_simulation, write_visits

__all__ = [
    "SCENARIOS",
    "City",
    "Simulation",
    "daily_visits_for",
    "generate_city",
    "simulate",
    "write_city",
    "write_simulation",
    "write_visits",
]
