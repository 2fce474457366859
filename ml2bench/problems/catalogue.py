"""The built-in problem families: name → ``"module:Class"`` (imports no torch).

A spec ``problems/NAME.toml`` names its family; the family's module (which imports
torch) is imported only when a spec's parameters are resolved or a task is built, so
``ml2bench list problems`` reads the specs alone.
"""

from ml2bench.catalogue import Entry, catalogue

FAMILIES = catalogue(
    Entry("resnet_classification", "ml2bench.problems.resnet_toy:ToyResNetClassification"),
    Entry("digits_cnn", "ml2bench.problems.digits:DigitsCNN"),
    Entry("image_cnn", "ml2bench.problems.images:ImageCNN"),
    Entry("image_resnet", "ml2bench.problems.images:ImageResNet"),
    Entry("pinn", "ml2bench.problems.pinn:ResNetPinn"),
    Entry("regression", "ml2bench.problems.pinn:ResNetRegression"),
    Entry("klein_gordon", "ml2bench.problems.schwarz_pinns:KleinGordonPinn"),
    Entry("allen_cahn", "ml2bench.problems.schwarz_pinns:AllenCahnPinn"),
    Entry("quadratic_poisson1d", "ml2bench.problems.quadratic:QuadraticPoisson1D"),
    Entry("obstacle_poisson1d", "ml2bench.problems.obstacle:ObstaclePoisson1D"),
    Entry("obstacle_poisson2d", "ml2bench.problems.obstacle:ObstaclePoisson2D"),
)
