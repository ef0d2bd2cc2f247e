"""Parts defined outside the package, as a researcher's own project would define them: they plug
in through the configuration and the entry points' opt-in alone, touching no package file."""
