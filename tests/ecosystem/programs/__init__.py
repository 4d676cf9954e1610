"""Programs the ecosystem tests run in a subprocess, each as a user would write it."""
