"""Model access for the assistant (issue 4): the local model's weights for now."""
