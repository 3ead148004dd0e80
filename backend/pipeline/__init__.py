"""`backend run` from stage to stage: tracking -> model -> post -> motion file."""
