"""`catdog data audit`: what is wrong with a set of training photos before anything trains on them:
likely wrong labels (labels.py), near-duplicates and leaks into another file (duplicates.py),
photos with no pet and unusable photos (run.py), and the report a person looks through (report.py)."""
