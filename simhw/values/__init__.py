"""Value types that cross layers: PhaseConfig, the bench description, Measurement. They import physics only."""
