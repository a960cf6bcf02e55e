"""The guided set-up (/jobs/guided/): goal, data, model, preset, review, and the presets' sizing."""
