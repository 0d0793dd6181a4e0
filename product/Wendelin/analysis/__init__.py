"""Sound analysis out of core: audio headers, channels, FFT, spectrogram, plots, learning."""
