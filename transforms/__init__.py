"""Composable Beam transforms that turn image files into EfficientNet embeddings."""
