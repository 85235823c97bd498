"""The randomized space-time SIM ([2] Randomized space-time SIM): synthesis of the space-only block, opportunistic
scheduling with partial CSIT, and slot-rate sessions on the bench."""
