"""Sample data: real Sacramento ground truth and Planet metadata, with synthetic PSScene imagery.

The ground-truth polygons (2015 Sacramento County DWR land-use survey), the areas of interest, the
PSScene metadata XMLs (with their real reflectance coefficients) and the UDM2 of a real order are
real public files from Planet's notebooks (Apache-2.0; see ``data/PROVENANCE.md``). The scene images
of the original study are not public, so the **imagery is synthetic**: :func:`make_synthetic_scene`
paints realistic PlanetScope radiance on the real field geometries.
"""

from cropseg.datasets._synthetic import (
    GENERATOR_VERSION,
    SacramentoSample,
    SyntheticScene,
    cache_dir,
    data_path,
    make_synthetic_scene,
    sacramento,
)

__all__ = [
    "GENERATOR_VERSION",
    "SacramentoSample",
    "SyntheticScene",
    "cache_dir",
    "data_path",
    "make_synthetic_scene",
    "sacramento",
]
