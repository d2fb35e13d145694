from graphfx.estimate import window_starts


def test_windows_cover_a_recording_and_end_with_it():
    assert window_starts(100, 100) == [0]  # one window: the whole recording
    assert window_starts(50, 100) == [0]
    assert window_starts(250, 100) == [0, 100, 150]  # the last one ends with the recording
    starts = window_starts(10_000, 100, most=5)  # too many: five spread evenly from start to end
    assert starts == [0, 2475, 4950, 7425, 9900]
