"""Built-in English passages: held-out text for perplexity when a job names no dataset.

Written for Hone, so they are in no model's training data. Varied on purpose (explanation,
narrative, instructions, dialogue, numbers, code) so one kind of text does not dominate the
score. Calibration text for GPTQ lives apart from these (trainers/quantize/calibration.py):
a model must not be measured on the text it was calibrated on.
"""

EVAL_TEXTS: tuple[str, ...] = (
    "A lighthouse keeper's day began before sunrise. She climbed the spiral stairs, wiped the salt "
    "from the lens, and wrote the weather in a thick logbook: wind from the north-west, visibility "
    "good, a fishing boat heading out past the rocks. Most entries were ordinary, but she believed "
    "that ordinary records were what made the unusual ones easy to notice.",
    "To make a simple loaf of bread, mix 500 grams of flour with 10 grams of salt and 7 grams of "
    "dried yeast. Add 350 millilitres of warm water and knead for ten minutes until the dough is "
    "smooth. Leave it covered for an hour, shape it, let it rise again, and bake it at 220 degrees "
    "for about thirty minutes, until the bottom sounds hollow when tapped.",
    "Photosynthesis turns light into chemical energy. Inside the leaves of a plant, chlorophyll "
    "absorbs mostly red and blue light, and that energy splits water into oxygen, protons and "
    "electrons. The plant then uses the captured energy to build sugars from carbon dioxide taken "
    "from the air, which is why forests are sometimes described as the lungs of the planet.",
    '"Are you coming to the market tomorrow?" asked Tom.\n"Only if it stops raining," said Ana. '
    '"Last week the stalls were half empty and the bread was gone by nine."\n"Then we should go '
    'early," Tom replied. "I will bring the big basket, and you can choose the apples this time."',
    'def moving_average(values, window):\n    """Return the mean of each run of `window` values."""\n'
    '    if window <= 0:\n        raise ValueError("window must be positive")\n'
    "    total = sum(values[:window])\n"
    "    averages = [total / window]\n    for i in range(window, len(values)):\n"
    "        total += values[i] - values[i - window]\n        averages.append(total / window)\n"
    "    return averages\n",
    "The town council met on Tuesday to discuss the new cycle lanes. Supporters said that safer "
    "routes would encourage children to ride to school, while some shop owners worried about losing "
    "parking spaces. After two hours of debate, the council agreed to a six-month trial on the main "
    "street and promised to publish traffic counts every month.",
    "Compound interest means earning interest on interest. If you save 1,000 euros at 5 percent a "
    "year, after one year you have 1,050 euros, and after two years 1,102.50 euros, because the "
    "second year's interest is calculated on the larger amount. Over thirty years the same savings "
    "grow to more than four times the original sum.",
    "When the power went out, the library did not close. The staff handed out candles in glass jars, "
    "and readers moved their chairs closer to the tall windows. Someone started reading a story "
    "aloud to a group of children, and by the time the lights returned an hour later, nobody wanted "
    "the story to stop.",
)
