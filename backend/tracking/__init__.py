"""From video to a tracked person: decoding, MediaPipe landmarks, tracking, crops."""
