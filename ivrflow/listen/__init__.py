"""Listening: hear when an IVR's prompt ends and what it said, offline and embedded.

    stream payload --audio--> 20 ms PCM frames --prompt_end--> SpeechStarted, PromptEnded
                                     └--audio.Upsampler--> 16 kHz --recognize--> Hit

`audio` decodes the Vobiz stream formats and cuts frames, `prompt_end` applies the
trailing-silence rule over webrtcvad, `recognize` spots the recipe's expected phrases
(pocketsphinx behind a small interface and a registry), and `speech` synthesizes
prompts with espeak-ng for menus that speak.

Importing this package, or any of its modules, loads none of the native libraries:
webrtcvad, pocketsphinx and espeak-ng load when a detector, recognizer or synthesizer is
first created, so `ivrflow validate` stays light. They come with the `listen` extra:
`pip install "ivrflow[listen]"`.
"""
