"""Designs: training objectives and trainers, space-time synthesis and scheduling, localization, the paper
reproductions. They import physics and value types only."""
