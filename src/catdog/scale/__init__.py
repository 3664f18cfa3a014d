"""Scale-out batch scoring on Ray."""
