"""The randomized space-time SIM (seed 001): synthesis of the space-only block, opportunistic
scheduling with partial CSIT, and slot-rate sessions on the bench."""
