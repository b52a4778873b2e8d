"""hw1core: data, models, training engine, analyses and experiments of the HW1 report."""
