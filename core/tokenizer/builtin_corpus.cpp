// Built-in training text for the vocabulary builder, part 1: English prose. Written for this
// project (not copied from any source) so generated models carry no third-party text.
// Embedded rather than read from resources/ because core must not depend on files at run time.
#include "core/tokenizer/vocab_builder.h"

namespace emoe::tokenizer {

std::string_view builtin_corpus_prose() {
  static constexpr std::string_view kText = R"CORPUS(
The morning fog had not yet lifted when Mara reached the old stone bridge. She stopped in the
middle, leaned on the cold railing and watched the river move slowly beneath her. A heron stood
on one leg near the far bank, as still as a painted figure, waiting for something only it could
see. Behind her the town was waking up: a bakery door opened, a bicycle bell rang twice, and
somewhere a radio played a song she almost remembered.

She had come back after eleven years. The bridge was the same, but the houses along the water
had new roofs, and the mill at the bend of the river had become a small museum with a gift shop
and a café. She wondered whether anyone would still know her name. Probably not, she thought,
and the idea made her feel lighter rather than sad.

When the sun finally broke through, the river changed color from grey to green to a bright,
almost silver blue. The heron lifted its wings, flew low over the water and disappeared behind
the willows. Mara picked up her bag and walked toward the market square.

---

How to bake a simple loaf of bread

You need only four things: flour, water, salt and yeast. Mix 500 grams of flour with 10 grams
of salt in a large bowl. Dissolve 7 grams of dry yeast in 350 milliliters of warm water, then
pour the water into the flour and stir until no dry patches remain. The dough will look rough
and sticky, which is exactly what you want at this stage.

Cover the bowl with a clean towel and let it rest for about an hour. Then fold the dough over
itself a few times with wet hands, turning the bowl a quarter turn after each fold. Let it rest
again. After two or three rounds of folding, the dough becomes smooth and elastic, and small
bubbles appear on its surface.

Shape the loaf gently, place it on a floured tray and let it rise until it has nearly doubled
in size. Bake it in a hot oven at 230 degrees for 35 to 40 minutes. The crust should be deep
brown, and the bottom should sound hollow when you tap it. Let the bread cool before you cut
it; the inside keeps cooking for a while after it leaves the oven.

---

A short history of the lighthouse at North Point

The first light at North Point was a simple fire kept burning in an iron basket on top of a
wooden tower. Fishermen paid the keeper in fish, bread and firewood. In a storm the fire was
often blown out, and the rocks below the point became known as one of the most dangerous places
on the whole coast.

In 1842 the town council decided to build a stone tower. It took four years, because the
stones had to be carried by boat from a quarry thirty miles to the south. The new tower was
twenty-six meters tall and carried an oil lamp with a large glass lens that could be seen from
eighteen miles away on a clear night.

The keepers lived in a small house beside the tower with their families. Their children walked
to school along the cliff path, and the logbooks they kept are still preserved in the town
library. The entries are short and practical: wind from the west, heavy rain, lamp lit at
sunset, two ships passed safely, one small boat towed into the harbor.

The light was converted to electricity in 1931 and made fully automatic in 1978. Today the
tower is open to visitors during the summer months. From the top you can see the whole bay,
the islands to the north and, on a very clear day, the mountains far inland.

---

Letter to a friend

Dear Sam,

Thank you for your long letter and for the photographs of the garden. The tomatoes look
wonderful; I still do not understand how you manage to grow them so early in the season. Ours
are green and small, and the snails have eaten half of the lettuce again.

Work has been busy. We finished the new library project last month, and now everyone is
tired but happy. The building opens to the public in September. I will send you the invitation
as soon as the date is fixed, and I hope you can come. There will be music, speeches that are
too long, and probably far too much cake.

The children are well. Leo has started to learn the violin, which means the house is full of
strange noises every evening. Nina reads everything she can find, including the instructions
on the washing machine. Yesterday she asked me why the sky is blue, and I realized I could not
explain it properly. Maybe you can help me with that when you visit.

Write soon, and give my best wishes to your mother.

With love,
Ellen

---

Why is the sky blue?

Sunlight looks white, but it is a mixture of many colors, from red with long wavelengths to
violet with short ones. When light passes through the air, it meets molecules of nitrogen and
oxygen that are much smaller than its wavelength. These molecules scatter short wavelengths far
more strongly than long ones. Blue light is therefore scattered in every direction across the
sky, and wherever we look, some of that scattered blue light reaches our eyes.

Violet light is scattered even more, so why is the sky not violet? Part of the answer is that
sunlight contains less violet than blue, and part of it is that our eyes are much less
sensitive to violet. At sunrise and sunset the light travels through a much thicker layer of
air. Most of the blue is scattered away before it reaches us, and the remaining light looks
orange and red.

---

The committee meeting

"Let us start," said the chair, looking at the clock. "We have seven items on the agenda and
only one hour, so I ask everyone to keep their comments short."

"Before we begin," said Mr. Patel, "I would like to point out that the minutes of the last
meeting are missing the decision about the parking spaces."

"Thank you. We will correct that. Is there anything else about the minutes?" Nobody answered.
"Good. The first item is the budget for next year. Anna, would you give us a summary?"

Anna opened her laptop and cleared her throat. "In short, our income will stay about the same,
but the costs of heating and electricity have increased by nearly twenty percent. If we do
nothing, we will have a deficit of around four thousand pounds. I have prepared three options.
We can raise the membership fee, we can reduce the number of events, or we can look for a
sponsor. I recommend a small increase in the fee combined with a search for a sponsor."

There was a short silence, and then everyone started to speak at once.

---

Notes on learning a language

Learning a new language as an adult is slow, but it is not mysterious. The most important
thing is regular contact with the language: a little every day is better than a lot once a
week. Listen to simple recordings, read short texts that are slightly too difficult, and try
to speak even when you make mistakes. Mistakes are not a sign of failure; they are information.

Vocabulary grows fastest when words are met in context. A word seen once in a list is easily
forgotten, but a word met in a story, in a conversation and in a song begins to feel familiar.
Grammar matters too, yet it is often easier to notice a pattern after you have seen many
examples than to memorize the rule first and search for examples later.

Finally, be patient with yourself. There will be weeks when nothing seems to improve, followed
by a day when you suddenly understand a whole conversation without thinking about it.

---

The weather this week

Monday will begin cloudy with a chance of light rain in the afternoon, mainly in the north and
west. Temperatures will reach 14 degrees in the south but stay closer to 10 degrees near the
coast. On Tuesday a band of heavier rain will move in from the Atlantic, bringing strong winds
to exposed areas. Gusts of 60 to 70 kilometers per hour are possible on high ground.

From Wednesday the weather turns calmer and brighter. Expect sunny spells, a few scattered
showers and cooler nights, with a risk of frost in sheltered valleys. The weekend looks mostly
dry, although another weather system may arrive late on Sunday.

---

On walking

I walk almost every evening, usually the same route: down the hill, along the canal, across the
park and back up the narrow lane behind the church. It takes forty minutes if I do not stop,
and I almost always stop. There is a bench by the lock where an old man feeds the ducks, and a
wall covered in ivy where a family of sparrows lives. In autumn the lane is full of fallen
leaves and smells of smoke and wet earth.

People ask what I think about while I walk. The honest answer is that I mostly do not think at
all, or not in words. Problems that seemed impossible at my desk often look smaller when I come
home. I do not know why this works, only that it does, and that it costs nothing.

---

Questions and answers about the solar system

Q: How many planets are there in the solar system?
A: There are eight planets: Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune.

Q: Which planet is the largest?
A: Jupiter. It is more than eleven times wider than the Earth and has a mass about 318 times
greater. Its Great Red Spot is a storm larger than our whole planet.

Q: How long does light from the Sun take to reach the Earth?
A: About eight minutes and twenty seconds. The average distance is close to 150 million
kilometers.

Q: Why does the Moon show phases?
A: The Moon does not make its own light. We see the part of it that is lit by the Sun, and as
the Moon moves around the Earth, the lit part we can see grows and shrinks over roughly 29.5
days.

---

A small market

Every Saturday the square fills with stalls. There are apples and pears from the farms in the
valley, cheese wrapped in paper, honey in glass jars, fresh eggs, flowers, and a man who sells
only knives and scissors and sharpens them while you wait. The fish van arrives early and is
usually empty by ten o'clock. Children run between the stalls with bread rolls in their hands,
and their parents stop every few meters to talk with neighbours they have not seen all week.

The prices are written on small boards in chalk. Three euros for a kilo of apples, five for a
jar of honey, two for a bunch of radishes. Most people pay in cash, and most stall holders give
a little extra to regular customers: an additional apple, a sprig of herbs, a piece of cheese to
taste. By one o'clock the stalls are packed away, and the square is quiet again.

---

The inventor's workshop

The workshop smelled of oil, sawdust and hot metal. Tools hung on the walls in careful rows,
each one outlined in white paint so that anyone could see at once which tool was missing. On
the long bench lay the parts of a machine that did not yet have a name: gears, springs, a small
electric motor, a glass tube filled with a blue liquid and a notebook covered in drawings.

"It will work," said the inventor, more to herself than to her visitor. "It has to work. The
principle is correct; only the details are wrong." She picked up a spring, stretched it,
frowned and put it back. "The details are always wrong at first. That is what details are for."

---

Basic rules of a healthy routine

Sleep at regular times and try to get seven to nine hours each night. Drink water during the
day, especially when it is warm or when you exercise. Eat vegetables and fruit, and do not skip
breakfast if it makes you tired or irritable later. Move your body every day: walking, cycling,
swimming or dancing all count. Spend some time outside in daylight. Take breaks from screens,
talk to friends and family, and ask for help when you need it. None of these rules is new, and
none of them is difficult to understand. The hard part is to follow them on an ordinary Tuesday.

---

The train journey

The train left the city at 6:45 in the morning. Outside the window the suburbs gave way to
fields, then to forests, then to hills that grew steeper and greener with every hour. A woman
across the aisle knitted a long red scarf without looking at her hands. Two students argued in
quiet voices about a film they had both seen, and a small boy pressed his face to the glass and
counted the cows until he fell asleep.

At noon the train stopped in a station with a single platform and a clock that had stopped at
twenty past three. Nobody got off and nobody got on. After a few minutes the doors closed, the
engine hummed, and the journey continued into the mountains, through long tunnels and over
bridges so high that the river below looked like a silver thread.

---

What makes a good explanation

A good explanation starts from what the listener already knows. It introduces one new idea at a
time and connects each idea to the previous one. It uses concrete examples before abstract
definitions, and it says clearly why something matters, not only what it is. A good explanation
also admits its limits: it says where a simplification was made and where the real story is
more complicated. Finally, it is short. If an explanation needs many pages, it is often better
to split it into several smaller ones, each with a single clear purpose.

---

A conversation at the front desk

"Hello, good morning! How can I help you?"
"Hi. I have a reservation for two nights. The name is Okafor."
"Let me check. Yes, here it is: a double room with a view of the garden. Could I see your
passport, please?"
"Of course. Here you are."
"Thank you. Breakfast is served from seven until ten in the room on the left. The wireless
password is written on the card in your room. Do you need help with your luggage?"
"No, thanks, I only have this small bag. Is there a good place for dinner nearby?"
"There is a small restaurant at the end of the street. The fish is very good, and they are
open until eleven. If you prefer something simple, the cafe by the station makes excellent
soup and sandwiches."
"That sounds perfect. Thanks a lot."
"You're welcome. Enjoy your stay, and please call us if you need anything."

---

The lost key

On Friday evening Tom could not find his key. He searched his coat, his bag and every drawer
in the kitchen. He looked under the sofa, behind the books on the shelf and even inside the
fridge, because once, years ago, he had found his glasses there. Nothing. His sister laughed
at him on the phone and asked whether he had checked the door. He had not. The key was still
in the lock, on the outside, where he had left it when he came home with the shopping.

---

Football report

The home team started well and scored after only six minutes, when a long pass from the right
found the striker alone in front of the goal. The visitors answered before half time with a
header from a corner. In the second half both teams had chances, but the goalkeepers were
excellent. With three minutes left, a young substitute shot from twenty meters into the top
corner. The final score was two to one, and the crowd sang all the way home.

---

A city at night

After dark the city becomes another place. Office windows go black one after another, while
the windows of flats above the shops light up in yellow and blue. Buses run half empty, their
drivers yawning at red lights. A delivery rider waits outside a noodle bar, checking his phone.
On the bridge, two friends share an umbrella and argue happily about a film. Far below, the
river carries the reflections of a thousand lamps toward the sea.

---

How to play a simple card game

Each player receives seven cards, and the rest of the deck is placed face down in the middle.
The top card is turned over to start a discard pile. On your turn you must play a card that
matches the top card of the pile in number or in color. If you cannot play, you draw one card
from the deck. The first player to get rid of all their cards wins the round. Count the points
left in the other players' hands, write them down, and play again until someone reaches one
hundred points.

---

On music practice

Practice slowly. Playing a passage slowly and correctly teaches your hands more than playing it
fast with mistakes. Use a metronome, start at a comfortable speed and increase it only when the
passage feels easy. Listen to recordings of good musicians, but also record yourself; what you
hear afterwards is often different from what you thought you played. Short daily sessions work
better than one long session on the weekend, and a piece that feels impossible in March may
feel natural by June.

---

Animals of the forest

In the early morning the forest belongs to the animals. Deer come to the edge of the clearing
to eat the fresh grass. A fox trots along the path with its nose close to the ground. Squirrels
chase each other around the trunks of the old oaks, and woodpeckers knock on dead branches in
search of insects. Owls, which hunted all night, sit quietly in the shadows and sleep. If you
walk softly and do not talk, you may see all of them before the first hikers arrive.

---

Good habits for writing

Write the first draft quickly and do not edit while you write. Then put the text away for a day.
When you return, read it aloud; awkward sentences are easier to hear than to see. Cut every word
that does not help the reader. Prefer short, concrete words to long, abstract ones. Check names,
numbers and dates twice. Finally, ask someone else to read it, and listen to their questions:
each question shows a place where the text was not as clear as you believed.

---

Thank you for reading. Please let us know what you think, and have a wonderful day.
)CORPUS";
  return kText;
}

}  // namespace emoe::tokenizer
