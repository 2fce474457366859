"""Model families: dense ResNet-ODE, CNNs, and parameter-vector models."""
