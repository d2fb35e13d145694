from graphfx.presets import PRESETS, data_mismatch


def test_data_that_differ_from_the_preset_give_one_line_with_the_cost_of_a_step():
    cpu = PRESETS["cpu"]  # 2 s at 16 kHz
    assert data_mismatch(cpu, 16000, 32000) is None
    text = data_mismatch(cpu, 44100, 160000)  # generate's defaults: 3.63 s at 44.1 kHz
    assert "\n" not in text and "44100 Hz" in text and "5.0x as long" in text
    assert "--sample-rate 16000 --samples 32000" in text
    assert "0.2x as long" in data_mismatch(PRESETS["paper"], 16000, 32000)
