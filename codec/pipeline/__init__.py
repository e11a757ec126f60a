"""The encode and decode pipelines: image -> analysis -> latent codec -> container, and back."""
