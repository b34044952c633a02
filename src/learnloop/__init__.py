"""learnloop: a self-hostable, cloud-native interactive learning platform."""

__version__ = "0.1.0"
