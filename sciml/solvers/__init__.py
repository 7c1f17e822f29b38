"""Numerical solvers used for data and ground truth."""

from sciml.solvers._burgers_cole_hopf import burgers_cole_hopf
from sciml.solvers._elasticity import NotchedPlate, mesh_plate, solve_plane_stress, tensile2d_dataset
from sciml.solvers._lorenz96 import (
    CubicClosure,
    TwoScaleLorenz96,
    lorenz96_dataset,
    lorenz96_samples,
    simulate_one_scale,
    simulate_two_scale,
    slow_tendency,
    spin_up_state,
)
from sciml.solvers._nonlinear_poisson import nonlinear_poisson_1d, nonlinear_poisson_family
from sciml.solvers._poisson import poisson_lshape_fem, poisson_polygon_fem, polygon_mesh
from sciml.solvers._porous_medium import nonlinear_diffusion_2d
from sciml.solvers._spectral import periodic_convection_diffusion

__all__: list[str] = ["nonlinear_diffusion_2d", "periodic_convection_diffusion", "poisson_lshape_fem",
                      "poisson_polygon_fem", "polygon_mesh"]
__all__ += ["burgers_cole_hopf", "nonlinear_poisson_1d", "nonlinear_poisson_family"]
__all__ += ["NotchedPlate", "mesh_plate", "solve_plane_stress", "tensile2d_dataset"]
__all__ += ["CubicClosure", "TwoScaleLorenz96", "lorenz96_dataset", "lorenz96_samples", "simulate_one_scale",
            "simulate_two_scale", "slow_tendency", "spin_up_state"]

from sciml.solvers._pdebench_families import (  # noqa: E402
    FAMILIES,
    INITIAL_DISTRIBUTIONS,
    AdvectionFamily,
    BurgersFamily,
    DiffusionReactionFamily,
    NavierStokes2DFamily,
    PDEFamily,
    advection_trajectories,
    burgers_trajectories,
    family_dataset,
    fisher_kpp_trajectories,
    navier_stokes_vorticity_trajectories,
    pdebench_initial_conditions,
    vorticity_initial_conditions,
)

__all__ += ["FAMILIES", "INITIAL_DISTRIBUTIONS", "AdvectionFamily", "BurgersFamily", "DiffusionReactionFamily",
            "NavierStokes2DFamily", "PDEFamily", "advection_trajectories", "burgers_trajectories", "family_dataset",
            "fisher_kpp_trajectories", "navier_stokes_vorticity_trajectories", "pdebench_initial_conditions",
            "vorticity_initial_conditions"]

from sciml.solvers._spm import (  # noqa: E402
    FARADAY,
    GAS_CONSTANT,
    SPM,
    Electrode,
    SPMParameters,
    SPMSolution,
    graphite_ocp_chen2020,
    nmc_ocp_chen2020,
    terminal_voltage,
)

__all__ += ["FARADAY", "GAS_CONSTANT", "SPM", "Electrode", "SPMParameters", "SPMSolution", "graphite_ocp_chen2020",
            "nmc_ocp_chen2020", "terminal_voltage"]

from sciml.solvers._qg import (  # noqa: E402
    TwoLayerQG,
    energy,
    energy_tendency,
    initial_state,
    isotropic_spectrum,
    qg_dataset,
    require_float64,
    spin_up,
    streamfunction,
    trajectory,
)

__all__ += ["TwoLayerQG", "energy", "energy_tendency", "initial_state", "isotropic_spectrum", "qg_dataset",
            "require_float64", "spin_up", "streamfunction", "trajectory"]

from sciml.solvers._turbulence2d import (  # noqa: E402
    DEALIASING,
    SMARL_CASES,
    AbstractClosure,
    Budget,
    DynamicSmagorinsky,
    ForcedTurbulence2D,
    Leith,
    NoClosure,
    PeriodicGrid2D,
    Smagorinsky,
    TurbulenceState,
    coarse_grain,
    dns_reference,
    energy_spectrum,
    enstrophy_spectrum,
    random_vorticity,
    simulate_turbulence,
    spectrum_error,
    strain_rate_magnitude,
    tail_hellinger,
    tail_probability,
    turbulence_dataset,
    vorticity_pdf,
)

__all__ += ["AbstractClosure", "Budget", "DEALIASING", "DynamicSmagorinsky", "ForcedTurbulence2D", "Leith", "NoClosure",
            "PeriodicGrid2D", "SMARL_CASES", "Smagorinsky", "TurbulenceState", "coarse_grain", "dns_reference",
            "energy_spectrum", "enstrophy_spectrum", "random_vorticity", "simulate_turbulence",
            "spectrum_error", "strain_rate_magnitude", "tail_hellinger", "tail_probability", "turbulence_dataset",
            "vorticity_pdf"]

from sciml.solvers._p2d import (  # noqa: E402
    P2D,
    P2DElectrode,
    P2DParameters,
    P2DSolution,
    electrolyte_conductivity_nyman2008,
    electrolyte_diffusivity_nyman2008,
)

__all__ += ["P2D", "P2DElectrode", "P2DParameters", "P2DSolution", "electrolyte_conductivity_nyman2008",
            "electrolyte_diffusivity_nyman2008"]
