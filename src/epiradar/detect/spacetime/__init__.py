"""Space-time scan statistics: clusters that no single region's series shows."""

from epiradar.detect.spacetime.baseline import weekday_baseline
from epiradar.detect.spacetime.neighbors import Neighbors, circle_neighbors, graph_neighbors
from epiradar.detect.spacetime.scan import Cluster, ScanResult, permutation_scan, poisson_scan

__all__ = [
    "Cluster",
    "Neighbors",
    "ScanResult",
    "circle_neighbors",
    "graph_neighbors",
    "permutation_scan",
    "poisson_scan",
    "weekday_baseline",
]
