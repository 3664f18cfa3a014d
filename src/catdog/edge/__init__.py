"""Where the model runs outside Python: MediaPipe metadata in the TFLite files, the check that
MediaPipe's ImageClassifier answers as `catdog predict` does, and the static web export."""
