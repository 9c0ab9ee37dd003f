"""Customer satisfaction: surveys after interactions and case resolutions, and their scores."""
