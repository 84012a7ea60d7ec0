"""plantid: identify plant photos with Plant.id (and Pl@ntNet), guarded and cached."""

__version__ = "0.1.0"
